"""The model registry, customers' credit profiles, exposure snapshots and merchant risk signals."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
)

from bnpl.store.tables.base import Money, metadata

__all__ = ["credit_models", "credit_profiles", "exposure_snapshots", "merchant_risk"]

# The model registry: every trained model is an immutable artefact (JSON, or LightGBM's own text
# inside JSON — never pickle) with its metadata. ``role`` is the only thing that changes: one
# champion scores every checkout, shadow models score beside it without deciding anything.
credit_models = Table(
    "credit_models",
    metadata,
    Column("version", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # scorecard | lightgbm
    Column("dataset", String(64), nullable=False),
    Column("role", String(16), nullable=False, index=True),  # candidate | champion | shadow | retired
    Column("meta", JSON, nullable=False),  # features, training window, fingerprint, metrics, parameters
    Column("artefact", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("promoted_at", DateTime(timezone=True)),
)

# Each customer's point-in-time features as of the last bulk rescoring (end of day or
# `bnpl model rescore`), with what the champion of that moment made of them. A checkout reads
# this one row and scores it with today's champion, overlaying what changed since (utilisation).
credit_profiles = Table(
    "credit_profiles",
    metadata,
    Column("customer_id", BigInteger, ForeignKey("customers.id"), primary_key=True),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("features", JSON, nullable=False),
    Column("model_version", String(64)),
    Column("pd_bps", Integer),  # probability of default in basis points (display and reporting)
    Column("grade", String(1)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Outstanding principal per merchant and for the whole platform, recomputed from ledger lines by a
# set-based job (end of day, or `bnpl risk exposure refresh`); the checkout adds what was authorized
# since. Scope: "platform" or "merchant:<id>". No row is updated by a checkout: no hot row.
exposure_snapshots = Table(
    "exposure_snapshots",
    metadata,
    Column("scope", String(32), primary_key=True),
    Column("outstanding", Money, nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
)

# Cash-out (套现) collusion signals per merchant, from the customer–merchant–device–address graph,
# refreshed set-based in the background and read by the checkout as one row.
merchant_risk = Table(
    "merchant_risk",
    metadata,
    Column("merchant_id", BigInteger, ForeignKey("merchants.id"), primary_key=True),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("signals", JSON, nullable=False),
)
