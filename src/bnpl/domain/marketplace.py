"""The host marketplace's data feed about a shopper: its record types, how a raw record is checked,
and which consent is in effect at a moment.

What is kept is only what the feed features need (``credit/feed_features.py``): no names, no
addresses, no message content. A record with a field not listed here is refused, so a feed cannot
hand the platform more than it asked for (minimum collection, PIPL art. 6). Every record carries
the provider's ``event_id``; ids are unique per record type.

The consent rule (PIPL art. 13–15): consent events are appended, never edited. The consent in
effect at a moment T is the last event strictly before T; a withdrawal ends all further use, and a
later grant starts a new consent that sees only what is ingested under it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from bnpl.domain.errors import InvalidInput
from bnpl.domain.orders import Channel, category_key

MAX_BATCH = 5_000  # records in one signed API request
MAX_ID = 2**62
MAX_FEN = 10**12
MAX_PAYMENT_METHODS = 100
MAX_ADDRESSES = 1_000
MINUTES_IN_WEEK = 7 * 24 * 60
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # nothing in a marketplace feed is older than this
_EVENT_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_NOTICE_VERSION = re.compile(r"^[A-Za-z0-9._\-]{1,32}$")


class RecordType(StrEnum):
    PROFILE = "profile"
    ORDER = "order"
    ENGAGEMENT = "engagement"


class PhoneTenure(StrEnum):
    """How long the shopper has held their phone number, as the marketplace knows it."""

    UNDER_6M = "lt_6m"
    UNDER_1Y = "6m_1y"
    UNDER_3Y = "1y_3y"
    OVER_3Y = "3y_plus"


PHONE_TENURE_RANK = {band: rank for rank, band in enumerate(PhoneTenure, start=1)}  # 0: unknown


class PaymentKind(StrEnum):
    WALLET = "wallet"
    DEBIT_CARD = "debit_card"
    CREDIT_CARD = "credit_card"
    CASH_ON_DELIVERY = "cash_on_delivery"
    INSTALMENT = "instalment"  # another lender's pay-later or instalment product
    OTHER = "other"


class Outcome(StrEnum):
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # before it was paid or shipped
    REFUNDED = "refunded"  # paid, money back without goods coming back
    RETURNED = "returned"  # paid, goods sent back
    PAYMENT_FAILED = "payment_failed"  # the payment was attempted and did not go through


PAID_OUTCOMES = frozenset({Outcome.COMPLETED, Outcome.REFUNDED, Outcome.RETURNED})

# Everyday goods: bought to be used up, rarely resold. The opposite end is orders.RESALE_CATEGORIES.
EVERYDAY_CATEGORIES = frozenset(
    {"snacks", "tea", "groceries", "food", "beauty", "personal_care", "home", "household", "baby", "pets"}
)


class ConsentPurpose(StrEnum):
    CREDIT_ASSESSMENT = "credit_assessment"


class FeedStatus(StrEnum):
    """Why the feed features are what they are; a decision can cite it as a reason."""

    OK = "ok"
    NO_CONSENT = "no_consent"  # never granted
    WITHDRAWN = "withdrawn"  # the last consent event is a withdrawal
    NO_DATA = "no_data"  # consent in effect, nothing ingested under it yet


SCOPES = tuple(t.value for t in RecordType)


@dataclass(frozen=True, slots=True)
class Profile:
    event_id: str
    customer_id: int
    observed_at: datetime
    account_opened_at: datetime
    real_name_verified: bool
    phone_tenure_band: PhoneTenure
    payment_methods: int
    addresses_12m: int  # shipping addresses used in the 12 months before observed_at

    kind = RecordType.PROFILE

    @property
    def at(self) -> datetime:
        return self.observed_at


@dataclass(frozen=True, slots=True)
class Order:
    """An order the shopper paid (or tried to pay) by other means than this platform."""

    event_id: str
    customer_id: int
    occurred_at: datetime
    category: str
    channel: Channel
    amount: int  # fen
    payment_kind: PaymentKind
    outcome: Outcome

    kind = RecordType.ORDER

    @property
    def at(self) -> datetime:
        return self.occurred_at


@dataclass(frozen=True, slots=True)
class Engagement:
    """Live-stream minutes watched in the week starting ``week_start`` (known once it has ended)."""

    event_id: str
    customer_id: int
    week_start: date
    live_watch_minutes: int

    kind = RecordType.ENGAGEMENT

    @property
    def at(self) -> datetime:
        return datetime.combine(self.week_start + timedelta(days=7), datetime.min.time(), tzinfo=UTC)


FeedRecord = Profile | Order | Engagement

_FIELDS: dict[RecordType, frozenset[str]] = {
    RecordType.PROFILE: frozenset(
        {
            "event_id",
            "customer_id",
            "observed_at",
            "account_opened_at",
            "real_name_verified",
            "phone_tenure_band",
            "payment_methods",
            "addresses_12m",
        }
    ),
    RecordType.ORDER: frozenset(
        {"event_id", "customer_id", "occurred_at", "category", "channel", "amount", "payment_kind", "outcome"}
    ),
    RecordType.ENGAGEMENT: frozenset({"event_id", "customer_id", "week_start", "live_watch_minutes"}),
}


def values(record: FeedRecord) -> dict[str, Any]:
    """The record's fields by name (a shallow ``asdict``: its values are immutable already)."""
    return {name: getattr(record, name) for name in _NAMES[record.kind]}


def digest(record: FeedRecord) -> str:
    """SHA-256 of the record's canonical content: one event id, one content."""
    fields = {k: v.isoformat() if isinstance(v, date) else v for k, v in values(record).items()}
    text = json.dumps({"type": record.kind.value, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_NAMES = {cls.kind: tuple(f.name for f in fields(cls)) for cls in (Profile, Order, Engagement)}


# --- checking one raw record ---------------------------------------------------------------------


class _Reader:
    """Typed access to one raw record; ``text``: values came from a CSV cell, all strings."""

    def __init__(self, raw: Mapping[str, Any], text: bool) -> None:
        self.raw, self.text = raw, text

    def get(self, name: str) -> Any:
        if name not in self.raw or self.raw[name] is None or (self.text and self.raw[name] == ""):
            raise InvalidInput(f"{name} is missing")
        return self.raw[name]

    def integer(self, name: str, low: int, high: int) -> int:
        value = self.get(name)
        if self.text and isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,20}", value.strip()):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidInput(f"{name} must be a whole number")
        if not low <= value <= high:
            raise InvalidInput(f"{name} must be between {low} and {high}")
        return value

    def boolean(self, name: str) -> bool:
        value = self.get(name)
        if self.text and isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        if not isinstance(value, bool):
            raise InvalidInput(f"{name} must be true or false")
        return value

    def string(self, name: str, max_len: int) -> str:
        value = self.get(name)
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be text")
        if not 1 <= len(value) <= max_len or not value.isprintable():
            raise InvalidInput(f"{name} must be 1-{max_len} printable characters")
        return value

    def choice(self, name: str, enum: type[StrEnum]) -> Any:
        value = self.string(name, 32)
        try:
            return enum(value)
        except ValueError:
            raise InvalidInput(f"{name} must be one of {', '.join(e.value for e in enum)}") from None

    def moment(self, name: str, now: datetime) -> datetime:
        value = self.string(name, 40)
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{name} is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone (e.g. +08:00 or Z)")
        moment = moment.astimezone(UTC)
        if moment > now:
            raise InvalidInput(f"{name} is in the future")
        if moment < EARLIEST:
            raise InvalidInput(f"{name} is before {EARLIEST.date().isoformat()}")
        return moment

    def day(self, name: str) -> date:
        value = self.string(name, 10)
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{name} is not a date (YYYY-MM-DD)") from None


def parse_record(raw: object, now: datetime, text: bool = False) -> FeedRecord:
    """The record ``raw`` describes, checked; ``InvalidInput`` with the reason otherwise.

    ``now`` is the business clock's: nothing may happen after it. ``text``: every value is a
    string (a CSV row), so numbers and booleans are read from their spelling."""
    if not isinstance(raw, Mapping):
        raise InvalidInput("a record must be an object")
    r = _Reader(raw, text)
    kind = r.choice("type", RecordType)
    given = {k for k, v in raw.items() if k != "type" and not (text and v in ("", None))}
    unknown = sorted(str(k) for k in given - _FIELDS[kind])
    if unknown:
        raise InvalidInput(f"unknown field for {kind.value}: {', '.join(unknown)}")
    event_id = r.string("event_id", 64)
    if not _EVENT_ID.match(event_id):
        raise InvalidInput("event_id must be 1-64 letters, digits or . _ : -")
    customer_id = r.integer("customer_id", 1, MAX_ID)
    if kind is RecordType.PROFILE:
        observed = r.moment("observed_at", now)
        opened = r.moment("account_opened_at", now)
        if opened > observed:
            raise InvalidInput("account_opened_at is after observed_at")
        return Profile(
            event_id,
            customer_id,
            observed,
            opened,
            r.boolean("real_name_verified"),
            r.choice("phone_tenure_band", PhoneTenure),
            r.integer("payment_methods", 0, MAX_PAYMENT_METHODS),
            r.integer("addresses_12m", 0, MAX_ADDRESSES),
        )
    if kind is RecordType.ORDER:
        occurred = r.moment("occurred_at", now)
        category = category_key(r.string("category", 64))
        if not category:
            raise InvalidInput("category has no letters or digits")
        return Order(
            event_id,
            customer_id,
            occurred,
            category,
            r.choice("channel", Channel),
            r.integer("amount", 1, MAX_FEN),
            r.choice("payment_kind", PaymentKind),
            r.choice("outcome", Outcome),
        )
    engagement = Engagement(
        event_id, customer_id, r.day("week_start"), r.integer("live_watch_minutes", 0, MINUTES_IN_WEEK)
    )
    if engagement.at > now:
        raise InvalidInput("week_start: the week has not ended yet")
    if engagement.at < EARLIEST:
        raise InvalidInput(f"week_start is before {EARLIEST.date().isoformat()}")
    return engagement


# --- consent ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    action: str  # grant | withdraw
    at: datetime
    purpose: str | None = None
    scope: tuple[str, ...] = ()
    notice_version: str | None = None


def check_consent(purpose: str, scope: Sequence[str], notice_version: str) -> tuple[str, ...]:
    """The scope, checked and in canonical order; ``InvalidInput`` for a bad purpose, scope or version."""
    if purpose not in {p.value for p in ConsentPurpose}:
        raise InvalidInput(f"purpose must be one of {', '.join(p.value for p in ConsentPurpose)}")
    if not scope or any(s not in SCOPES for s in scope):
        raise InvalidInput(f"scope must be a non-empty list of {', '.join(SCOPES)}")
    if not isinstance(notice_version, str) or not _NOTICE_VERSION.match(notice_version):
        raise InvalidInput("notice_version must be 1-32 letters, digits or . _ -")
    return tuple(s for s in SCOPES if s in scope)


def consent_at(events: Sequence[ConsentEvent], moment: datetime) -> tuple[FeedStatus, ConsentEvent | None]:
    """The consent in effect at ``moment``: the last event strictly before it (events in the order
    they were recorded). The grant is returned when it is in effect."""
    last = None
    for event in events:
        if event.at < moment:
            last = event
    if last is None:
        return FeedStatus.NO_CONSENT, None
    if last.action != "grant":
        return FeedStatus.WITHDRAWN, None
    return FeedStatus.OK, last
