"""API key lifecycle: a key can be revoked (by itself, or replaced by a rotation); keys are found
by their holder to revoke them

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_api_keys_holder", "api_keys", ["role", "subject_id"])


def downgrade() -> None:
    op.drop_index("ix_api_keys_holder", table_name="api_keys")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")
