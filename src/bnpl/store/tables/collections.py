"""End of day's markers and closed business dates, ageing and roll rates, and the collections desk:
agents, cases, actions, contacts, notes, flags, promises, plans and field visits."""

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
)

from bnpl.store.tables.base import Id, Money, metadata

__all__ = [
    "account_ageing",
    "business_days",
    "collection_actions",
    "collection_agents",
    "collection_cases",
    "contact_attempts",
    "customer_flags",
    "eod_steps",
    "field_visits",
    "hardship_plans",
    "promises",
    "record_notes",
    "roll_rates",
]

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
