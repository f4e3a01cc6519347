"""The schema, in SQLAlchemy Core. Alembic migrations under ``migrations/`` build it.

Money columns are BigInteger fen; rates are integer basis points; nothing here is a float.
``ledger_lines`` and ``journal_entries`` are append-only (triggers refuse UPDATE and DELETE).
"""

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
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Money = BigInteger
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identity.
Id = BigInteger().with_variant(Integer, "sqlite")

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


# --- collections ---------------------------------------------------------------------------------
# End of day records each finished step in the same transaction as its work: a crashed run starts
# again after the last finished step, and a second run of the same date finds every step done.
eod_steps = Table(
    "eod_steps",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("step", String(32), primary_key=True),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("summary", JSON, nullable=False),
)

# The calendar of closed business dates (domain/business_days.py): end of day closes one date at a
# time, in order, and records its summary; the open business date is the day after the last one.
business_days = Table(
    "business_days",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("closed_at", DateTime(timezone=True), nullable=False),
    Column("closed_by", String(64), nullable=False),
    Column("summary", JSON, nullable=False),
)

# Delinquent accounts as each end of day found them (accounts not listed were current).
account_ageing = Table(
    "account_ageing",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("customer_id", BigInteger, primary_key=True),
    Column("dpd", Integer, nullable=False),
    Column("bucket", String(8), nullable=False),
    Column("overdue_amount", Money, nullable=False),
)

roll_rates = Table(
    "roll_rates",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("from_bucket", String(8), primary_key=True),
    Column("to_bucket", String(8), primary_key=True),
    Column("accounts", Integer, nullable=False),
    Column("amount", Money, nullable=False),
)

collection_agents = Table(
    "collection_agents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),  # agent | field_agent | specialist | supervisor
    Column("skills", JSON, nullable=False),  # buckets and segments this agent works, e.g. ["M1", "M2"]
    Column("active", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

collection_cases = Table(
    "collection_cases",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, ForeignKey("customers.id"), nullable=False),
    Column("status", String(16), nullable=False),  # open | closed
    Column("bucket", String(8), nullable=False),
    Column("segment", String(8), nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("overdue_amount", Money, nullable=False),
    Column("agent_id", BigInteger, ForeignKey("collection_agents.id")),
    Column("opened_on", Date, nullable=False),
    Column("closed_on", Date),
    Column("close_reason", String(16)),  # cured | plan | settlement | charged_off
    Column("agency_on", Date),  # placed with an external agency
    Column("updated_on", Date, nullable=False),
    Index("ix_collection_cases_customer", "customer_id", "status"),
    Index("ix_collection_cases_agent", "agent_id", "status"),
)

# What the strategy scheduled: automated sends (with their contact attempt) and agents' tasks.
collection_actions = Table(
    "collection_actions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("business_date", Date, nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("case_id", BigInteger),
    Column("action", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("template", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # sent | blocked | queued | done | skipped
    Column("attempt_id", BigInteger),
    Index("ix_collection_actions_day", "business_date", "status"),
    Index("ix_collection_actions_case", "case_id"),
)

# Every contact attempt, made or blocked, with the rule that blocked it. Append-only (triggers):
# a record is kept, never edited; notes annotate it.
contact_attempts = Table(
    "contact_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, ForeignKey("customers.id"), nullable=False),
    Column("case_id", BigInteger),
    Column("agent_id", BigInteger),  # None: an automated send
    Column("channel", String(16), nullable=False),
    Column("party", String(16), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("template", String(64), nullable=False),
    Column("discloses_debt", Integer, nullable=False),
    Column("by_specialist", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),  # when it happens (is sent, is made)
    Column("decided_at", DateTime(timezone=True), nullable=False),  # when the policy judged it
    Column("business_date", Date, nullable=False),
    Column("allowed", Integer, nullable=False),
    Column("rule", String(32)),
    Column("reason", String(300), nullable=False),
    Column("outcome", String(16)),  # sent | reached | no_answer | left_message | wrong_number | refused
    Column("reached", Integer, nullable=False),  # a conversation with the customer
    Column("note", Text),
    Index("ix_contact_attempts_customer_at", "customer_id", "at"),
    Index("ix_contact_attempts_day", "business_date"),
)

record_notes = Table(
    "record_notes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("record", String(16), nullable=False),  # contact | visit
    Column("record_id", BigInteger, nullable=False),
    Column("author", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_record_notes_record", "record", "record_id"),
)

# cease_contact | dispute | hardship | bereavement | illness; closed_on None while in force
customer_flags = Table(
    "customer_flags",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, ForeignKey("customers.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("order_id", BigInteger),
    Column("note", String(500), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Index("ix_customer_flags_customer", "customer_id", "kind"),
)

promises = Table(
    "promises",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", BigInteger, ForeignKey("collection_cases.id"), nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("agent_id", BigInteger),
    Column("amount", Money, nullable=False),
    Column("made_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("status", String(16), nullable=False),  # open | kept | broken
    Column("paid", Money, nullable=False),
    Column("resolved_on", Date),
    Index("ix_promises_status", "status", "due_on"),
)

hardship_plans = Table(
    "hardship_plans",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", BigInteger, ForeignKey("collection_cases.id"), nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # plan | settlement
    Column("instalments", Integer, nullable=False),
    Column("waive_fees", Integer, nullable=False),
    Column("settle_amount", Money),  # a discounted settlement: this much closes the case
    Column("status", String(16), nullable=False),  # proposed | approved | rejected | done
    Column("proposed_by", String(64), nullable=False),
    Column("decided_by", String(64)),
    Column("proposed_on", Date, nullable=False),
    Column("decided_on", Date),
    Column("note", String(500), nullable=False),
    Column("result", JSON),
)

field_visits = Table(
    "field_visits",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", BigInteger, ForeignKey("collection_cases.id"), nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # requested | approved | rejected | done | cancelled
    Column("requested_by", BigInteger, nullable=False),
    Column("requested_on", Date, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("decided_by", BigInteger),
    Column("decided_on", Date),
    Column("agent_a", BigInteger),
    Column("agent_b", BigInteger),
    Column("slot_at", DateTime(timezone=True)),
    Column("address_enc", Text),  # where it goes: the registered address when requested, sealed
    Column("notice_attempt_id", BigInteger),  # the notice sent to the customer beforehand
    Column("outcome", String(16)),  # met | not_home | promise | dispute | refused
    Column("checklist", JSON),
    Column("cost", Money),
    Column("completed_at", DateTime(timezone=True)),
    Index("ix_field_visits_case", "case_id"),
)

# --- the ops console: staff and their sessions ---------------------------------------------------

# A member of staff signing in to the console. The role decides the screens; an agent, field agent
# or supervisor is linked to their collections agent, a merchant user to their merchant.
staff_users = Table(
    "staff_users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),  # scrypt, with its salt and parameters
    Column(
        "role", String(16), nullable=False
    ),  # admin | risk_analyst | agent | field_agent | supervisor | merchant
    Column("agent_id", BigInteger, ForeignKey("collection_agents.id")),
    Column("merchant_id", BigInteger, ForeignKey("merchants.id")),
    Column("active", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# A signed-in session: the cookie carries a random token, the table only its hash; the session's
# CSRF token is derived from the token (console/staff.py), so nothing here signs anyone in.
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", BigInteger, ForeignKey("staff_users.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
)

# A message for the next console page one browser loads ("promise recorded", "blocked by …"),
# keyed by the SHA-256 of that browser's session token (or, signed out, of its sign-in form's
# token). Shown once, then deleted; messages never travel in the URL, so a crafted link cannot put
# words in the console's mouth.
console_flash = Table(
    "console_flash",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key_hash", String(64), nullable=False),
    Column("kind", String(8), nullable=False),  # ok | err
    Column("text", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_console_flash_key_hash", "key_hash"),
    Index("ix_console_flash_created_at", "created_at"),  # old, never-shown messages are purged
)

# Console sign-in attempts the throttles let through, kept only for the throttles' one-minute
# window: how many came from one client address, and how many from everyone.
staff_sign_in_attempts = Table(
    "staff_sign_in_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),  # the client address as the application sees it
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_staff_sign_in_attempts_source_at", "source", "at"),
    Index("ix_staff_sign_in_attempts_at", "at"),
)

# Columns holding sealed personal data (store/crypto.py), each bound to its table, column and row
# id: what `bnpl keys reencrypt` moves to the primary key.
SEALED_COLUMNS = (
    (customers, "phone_enc"),
    (customers, "address_enc"),
    (field_visits, "address_enc"),
)

# --- the host marketplace's data feed (domain/marketplace.py), used only under the shopper's consent ---

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
