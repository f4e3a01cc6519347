"""Merchants, customers and their credit lines, API keys, decisions, orders and returns, obligations,
payments, the ledger, idempotency keys and the audit log."""

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
    Text,
    UniqueConstraint,
    text,
)

from bnpl.store.tables.base import Id, Money, metadata

OPEN_INDEX_COLUMNS = ("customer_id", "due_date", "principal", "principal_paid", "fee", "fee_paid")

__all__ = [
    "api_keys",
    "audit_log",
    "credit_accounts",
    "customers",
    "decisions",
    "idempotency_keys",
    "journal_entries",
    "ledger_lines",
    "merchants",
    "obligations",
    "order_items",
    "orders",
    "payments",
    "returns",
]

merchants = Table(
    "merchants",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("mdr_bps", Integer, nullable=False),
    Column("trial_days", Integer, nullable=False),
    Column("settlement_delay_days", Integer, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("outstanding_cap", Money),  # the most owed on its orders at once; None: the policy default
)

customers = Table(
    "customers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("language", String(8), nullable=False, server_default="zh-CN"),
    # personal data, sealed (store/crypto.py) and masked by default wherever staff read it; the
    # registered address is the only place a field visit may go
    Column("phone_enc", Text),
    Column("address_enc", Text),
    # keyed hashes of the same, for equality look-ups without reading them
    Column("phone_hmac", String(64)),
    Column("address_hmac", String(64)),
    Index("ix_customers_phone_hmac", "phone_hmac"),
    Index("ix_customers_address_hmac", "address_hmac"),
)

credit_accounts = Table(
    "credit_accounts",
    metadata,
    Column("customer_id", BigInteger, ForeignKey("customers.id"), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("credit_limit", Money, nullable=False),
    # cached from the ledger and the open holds; `bnpl ledger check` recomputes both
    Column("outstanding", Money, nullable=False),
    Column("holds", Money, nullable=False),
    Column("credit_balance", Money, nullable=False),
    # owed again after a payment was charged back once its overpayment had been refunded or spent
    # (customer_chargeback_receivable); never positive together with credit_balance
    Column("chargeback_owed", Money, nullable=False, server_default="0"),
    Column("state", String(16), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # responsible spending: the customer's own lower ceiling, and a pause they chose
    Column("customer_limit", Money),
    Column("paused_until", Date),
    Column("limit_raised_at", DateTime(timezone=True)),  # bursts right after a raise are a fraud sign
    Column("frozen_by", String(16)),  # policy | staff: the policy only unfreezes what it froze
    Column("limit_set_by", String(16)),  # staff | policy; None: never given one (the review may)
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("subject_id", BigInteger, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),  # revoked, or rotated away
    Index("ix_api_keys_holder", "role", "subject_id"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, ForeignKey("customers.id"), nullable=False, index=True),
    Column("merchant_id", BigInteger, ForeignKey("merchants.id"), nullable=False),
    Column("amount", Money, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("approved_amount", Money, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("versions", JSON, nullable=False),
    Column("rule_hits", JSON),  # live and shadow hits, and rules that could not be evaluated
    Column("business_date", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_decisions_business_date", "business_date"),  # the day's decisions (portfolio snapshot)
)

orders = Table(
    "orders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("merchant_id", BigInteger, ForeignKey("merchants.id"), nullable=False),
    Column("customer_id", BigInteger, ForeignKey("customers.id"), nullable=False),
    Column("decision_id", BigInteger, ForeignKey("decisions.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", Money, nullable=False),  # the basket at authorization
    Column("returned_amount", Money, nullable=False),
    Column("pending_return_amount", Money, nullable=False),
    Column("plan_code", String(32), nullable=False),
    Column("fee_payer", String(16), nullable=False),  # customer | merchant (商家贴息)
    Column("channel", String(16), nullable=False),
    Column("stream_id", String(64)),
    Column("creator_id", String(64)),
    Column("device_id", String(128)),
    Column("address_hash", String(128)),  # keyed hash (store/crypto.py) of what the merchant sent
    Column("mdr_bps", Integer, nullable=False),
    Column("trial_days", Integer, nullable=False),
    Column("settlement_delay_days", Integer, nullable=False),
    Column("mdr_amount", Money, nullable=False),
    Column("merchant_fee", Money, nullable=False),
    Column("authorized_on", Date, nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("captured_on", Date),
    Column("delivered_on", Date),
    Column("delivery_assumed", Integer, nullable=False, default=0),
    Column("trial_ends_on", Date),
    Column("settle_on", Date),
    Column("settled_on", Date),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_orders_merchant_id", "merchant_id", "id"),
    Index("ix_orders_customer_id", "customer_id", "id"),
    Index("ix_orders_status_expires_on", "status", "expires_on"),
    Index("ix_orders_settle_on", "settle_on", "settled_on"),
    # velocity windows (risk/signals.py)
    Index("ix_orders_customer_created", "customer_id", "created_at"),
    Index("ix_orders_merchant_created", "merchant_id", "created_at"),
    Index("ix_orders_device_created", "device_id", "created_at"),
    Index("ix_orders_address_created", "address_hash", "created_at"),
    Index("ix_orders_decision_id", "decision_id"),  # a decision's order (decisions search, explain)
)

order_items = Table(
    "order_items",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_id", BigInteger, ForeignKey("orders.id"), nullable=False, index=True),
    Column("sku", String(64), nullable=False),
    Column("category", String(64), nullable=False),
    Column("unit_price", Money, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("returned_quantity", Integer, nullable=False),
    Column("pending_quantity", Integer, nullable=False),
    UniqueConstraint("order_id", "sku"),
)

returns = Table(
    "returns",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_id", BigInteger, ForeignKey("orders.id"), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # requested | confirmed | rejected
    Column("amount", Money, nullable=False),
    Column("items", JSON, nullable=False),
    Column("reason", String(500)),
    Column("requested_on", Date, nullable=False),
    Column("resolved_on", Date),
)

obligations = Table(
    "obligations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_id", BigInteger, ForeignKey("orders.id"), nullable=False, index=True),
    Column("customer_id", BigInteger, ForeignKey("customers.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("principal", Money, nullable=False),
    Column("fee", Money, nullable=False),
    Column("principal_paid", Money, nullable=False),
    Column("fee_paid", Money, nullable=False),
    # open | paid | closed (returned) | converted | charged_off | settled (a discounted settlement)
    Column("status", String(16), nullable=False),
    # instalment, or late_fee: one row per order collecting its late fees (fee column), so the
    # waterfall, statements and ledger checks treat a penalty like any other amount owed
    Column("kind", String(16), nullable=False, server_default="instalment"),
    Index("ix_obligations_customer_status", "customer_id", "status", "due_date"),
    # what is owed now across the book (the dashboard on every load, end of day): the open
    # obligations only, with their amounts, so the sum reads the index alone and not every paid
    # obligation ever kept (1M obligations, 2% open: 146 ms to 2 ms on SQLite, 63 to 1.4 on PostgreSQL)
    Index(
        "ix_obligations_open",
        *OPEN_INDEX_COLUMNS,
        sqlite_where=text("status = 'open'"),
        postgresql_where=text("status = 'open'"),
    ),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, ForeignKey("customers.id"), nullable=False, index=True),
    Column("provider_ref", String(128), unique=True),
    Column("amount", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("source", String(16), nullable=False),  # api | callback | cli
    Column("entry_id", BigInteger, ForeignKey("journal_entries.id"), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("memo", Text, nullable=False),
    Column("reverses", BigInteger, ForeignKey("journal_entries.id"), unique=True),  # reversed at most once
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_journal_entries_business_date", "business_date"),  # the day's movements (snapshot)
)

ledger_lines = Table(
    "ledger_lines",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("entry_id", BigInteger, ForeignKey("journal_entries.id"), nullable=False, index=True),
    Column("account", String(40), nullable=False),
    Column("amount", Money, nullable=False),  # debit > 0, credit < 0
    Column("customer_id", BigInteger),
    Column("merchant_id", BigInteger),
    Column("order_id", BigInteger),
    Column("obligation_id", BigInteger),
    Index("ix_ledger_lines_customer", "customer_id", "account"),
    Index("ix_ledger_lines_merchant", "merchant_id", "account"),
    Index("ix_ledger_lines_order", "order_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("stream", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("entity_id", String(64), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("stream", "seq", name="uq_audit_log_stream_seq"),
    Index("ix_audit_log_business_date", "business_date"),  # end of day's "no going back" check
)
