"""chargebacks: what a customer owes again after a payment whose overpayment was already refunded
or spent is charged back (credit_accounts.chargeback_owed, cached from the ledger)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credit_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chargeback_owed", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("credit_accounts", schema=None) as batch_op:
        batch_op.drop_column("chargeback_owed")
