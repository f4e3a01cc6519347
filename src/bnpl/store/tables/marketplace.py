"""The host marketplace's data feed (``domain/marketplace.py``), used only under the shopper's
consent: consent events, profiles, order events and engagement, all append-only."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from bnpl.store.tables.base import Id, Money, metadata

__all__ = ["marketplace_consents", "marketplace_engagement", "marketplace_orders", "marketplace_profiles"]

# Consent events, appended: the consent in effect at T is the last event before T.
marketplace_consents = Table(
    "marketplace_consents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, ForeignKey("customers.id"), nullable=False),
    Column("action", String(8), nullable=False),  # grant | withdraw
    Column("purpose", String(32)),
    Column("scope", JSON),  # the record types the shopper agreed to share
    Column("notice_version", String(32)),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Index("ix_marketplace_consents_customer_id_at", "customer_id", "at"),
)

# The feed itself, append-only (triggers refuse UPDATE and DELETE); each row keeps the provider's
# event id (unique per table) and the SHA-256 of its content, so a resend is recognised.
marketplace_profiles = Table(
    "marketplace_profiles",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("customer_id", BigInteger, nullable=False),
    Column("observed_at", DateTime(timezone=True), nullable=False),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
    Column("account_opened_at", DateTime(timezone=True), nullable=False),
    Column("real_name_verified", Integer, nullable=False),  # 0 | 1
    Column("phone_tenure_band", String(8), nullable=False),
    Column("payment_methods", Integer, nullable=False),
    Column("addresses_12m", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Index("ix_marketplace_profiles_customer_id_observed_at", "customer_id", "observed_at"),
)

marketplace_orders = Table(
    "marketplace_orders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("customer_id", BigInteger, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
    Column("category", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("amount", Money, nullable=False),
    Column("payment_kind", String(24), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("digest", String(64), nullable=False),
    Index("ix_marketplace_orders_customer_id_occurred_at", "customer_id", "occurred_at"),
)

marketplace_engagement = Table(
    "marketplace_engagement",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("customer_id", BigInteger, nullable=False),
    Column("week_start", Date, nullable=False),
    Column("live_watch_minutes", Integer, nullable=False),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
    Column("digest", String(64), nullable=False),
    Index("ix_marketplace_engagement_customer_id_week_start", "customer_id", "week_start"),
)
