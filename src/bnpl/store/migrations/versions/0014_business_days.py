"""business days: the calendar of closed business dates, the authority on which date end of day
closes next and which dates an action may bear. Dates whose end of day already finished (its
``snapshot`` step is marked) are closed on upgrade.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "business_days",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("business_date", name=op.f("pk_business_days")),
    )
    op.execute(
        "INSERT INTO business_days (business_date, closed_at, closed_by, summary) "
        "SELECT business_date, finished_at, 'migration 0014', '{}' FROM eod_steps WHERE step = 'snapshot'"
    )


def downgrade() -> None:
    op.drop_table("business_days")
