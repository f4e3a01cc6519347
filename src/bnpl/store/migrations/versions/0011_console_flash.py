"""ops console: flash messages kept on the server, and the sign-in throttles' recent attempts

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-02 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "console_flash",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_flash")),
    )
    op.create_index("ix_console_flash_key_hash", "console_flash", ["key_hash"])
    op.create_index("ix_console_flash_created_at", "console_flash", ["created_at"])
    op.create_table(
        "staff_sign_in_attempts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sign_in_attempts")),
    )
    op.create_index("ix_staff_sign_in_attempts_source_at", "staff_sign_in_attempts", ["source", "at"])
    op.create_index("ix_staff_sign_in_attempts_at", "staff_sign_in_attempts", ["at"])


def downgrade() -> None:
    op.drop_index("ix_staff_sign_in_attempts_at", table_name="staff_sign_in_attempts")
    op.drop_index("ix_staff_sign_in_attempts_source_at", table_name="staff_sign_in_attempts")
    op.drop_table("staff_sign_in_attempts")
    op.drop_index("ix_console_flash_created_at", table_name="console_flash")
    op.drop_index("ix_console_flash_key_hash", table_name="console_flash")
    op.drop_table("console_flash")
