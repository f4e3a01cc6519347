"""open obligations index: a partial index of the open obligations with their amounts, so that
what is owed now across the book (the console's dashboard on every load, end of day) reads the
index alone rather than every obligation ever kept, most of them paid long ago

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 11:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

COLUMNS = ["customer_id", "due_date", "principal", "principal_paid", "fee", "fee_paid"]


def upgrade() -> None:
    op.create_index(
        "ix_obligations_open",
        "obligations",
        COLUMNS,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_index("ix_obligations_open", table_name="obligations")
