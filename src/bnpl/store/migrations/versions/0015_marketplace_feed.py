"""marketplace feed: the shopper's consent events, and the host marketplace's profile, order and
engagement records (append-only: triggers refuse UPDATE and DELETE, as for the ledger)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("marketplace_consents", "marketplace_profiles", "marketplace_orders", "marketplace_engagement")


def _feed_table(name: str, *columns: sa.Column) -> None:  # type: ignore[type-arg]
    op.create_table(
        name,
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        *columns,
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint("event_id", name=op.f(f"uq_{name}_event_id")),
    )


def upgrade() -> None:
    op.create_table(
        "marketplace_consents",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=True),
        sa.Column("scope", sa.JSON(), nullable=True),
        sa.Column("notice_version", sa.String(length=32), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_marketplace_consents_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_consents")),
    )
    op.create_index("ix_marketplace_consents_customer_id_at", "marketplace_consents", ["customer_id", "at"])
    _feed_table(
        "marketplace_profiles",
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account_opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("real_name_verified", sa.Integer(), nullable=False),
        sa.Column("phone_tenure_band", sa.String(length=8), nullable=False),
        sa.Column("payment_methods", sa.Integer(), nullable=False),
        sa.Column("addresses_12m", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_marketplace_profiles_customer_id_observed_at",
        "marketplace_profiles",
        ["customer_id", "observed_at"],
    )
    _feed_table(
        "marketplace_orders",
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("payment_kind", sa.String(length=24), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
    )
    op.create_index(
        "ix_marketplace_orders_customer_id_occurred_at", "marketplace_orders", ["customer_id", "occurred_at"]
    )
    _feed_table(
        "marketplace_engagement",
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("live_watch_minutes", sa.Integer(), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_marketplace_engagement_customer_id_week_start",
        "marketplace_engagement",
        ["customer_id", "week_start"],
    )
    _guards()


def _guards() -> None:
    """Append-only, like the ledger: bnpl_refuse_change() comes from revision 0001 on PostgreSQL."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY:
        if postgres:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION bnpl_refuse_change()"
            )
            continue
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'append-only table: {verb} on {table} refused'); END"
            )


def downgrade() -> None:
    for table in reversed(APPEND_ONLY):
        op.drop_table(table)  # its triggers go with it
