"""risk: exposure snapshots, merchant caps, customers' own limits and pauses, merchant graph risk

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 16:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outstanding_cap", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("credit_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_limit", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("paused_until", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("limit_raised_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("frozen_by", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("limit_set_by", sa.String(length=16), nullable=True))
    op.create_table(
        "exposure_snapshots",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("outstanding", sa.BigInteger(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_exposure_snapshots")),
    )
    op.create_table(
        "merchant_risk",
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signals", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_merchant_risk_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_merchant_risk")),
    )


def downgrade() -> None:
    op.drop_table("merchant_risk")
    op.drop_table("exposure_snapshots")
    with op.batch_alter_table("credit_accounts", schema=None) as batch_op:
        batch_op.drop_column("limit_set_by")
        batch_op.drop_column("frozen_by")
        batch_op.drop_column("limit_raised_at")
        batch_op.drop_column("paused_until")
        batch_op.drop_column("customer_limit")
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.drop_column("outstanding_cap")
