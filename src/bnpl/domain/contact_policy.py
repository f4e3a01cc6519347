"""The contact policy: may collections contact this person, on this channel, at this moment?

The full account is in docs/collections.md ("The contact policy")."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CHANNELS: tuple[str, ...] = ("push", "sms", "email", "call", "letter", "field_visit")
PARTIES: tuple[str, ...] = ("customer", "third_party")  # third_party = an emergency contact
PURPOSES: tuple[str, ...] = ("reminder", "collect", "locate", "legal_notice")
VULNERABILITIES: tuple[str, ...] = ("hardship", "bereavement", "illness")

DEFAULT_DAILY_CAPS: Mapping[str, int] = MappingProxyType(
    {"push": 2, "sms": 2, "email": 2, "call": 3, "letter": 1, "field_visit": 1}
)

# A letter or an email waits until the reader chooses to open it. Every other channel rings, buzzes
# or knocks when it is sent, so only those channels are held to the allowed hours.
_TIMED_CHANNELS = frozenset(CHANNELS) - {"letter", "email"}
# Live calls and visits are where a vulnerable customer feels pressure most, so only trained
# specialists make them.
_IN_PERSON_CHANNELS = frozenset({"call", "field_visit"})
# A customer who asked us to stop may still receive a notice the law requires, but only in writing.
_WRITTEN_NOTICE_CHANNELS = frozenset({"letter", "email"})


def _check_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (UTC), not naive: {moment.isoformat()}")


def _check_channels(counts: Mapping[str, int], name: str) -> None:
    unknown = sorted(set(counts) - set(CHANNELS))
    if unknown:
        raise ValueError(f"{name} names unknown channel {', '.join(unknown)}; known: {', '.join(CHANNELS)}")


@dataclass(frozen=True, slots=True)
class RuleDoc:
    title: str
    source: str  # the law, regulation or policy the rule follows


@dataclass(frozen=True, slots=True)
class ContactPolicy:
    start: time = time(8, 0)  # earliest local time a contact may happen (inclusive)
    end: time = time(21, 0)  # latest (exclusive)
    daily_caps: Mapping[str, int] = field(default_factory=lambda: DEFAULT_DAILY_CAPS)
    weekly_call_cap: int = 7  # call attempts in any 7 days
    quiet_days_after_conversation: int = 7  # no call this many days after reaching the customer

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("start and end are local wall-clock times: give them without a tzinfo")
        if not self.start < self.end:
            raise ValueError(f"start {self.start:%H:%M} must be before end {self.end:%H:%M}")
        _check_channels(self.daily_caps, "daily_caps")
        # A missing cap is more likely a typo than a wish for no limit, so every channel must have one.
        missing = [c for c in CHANNELS if c not in self.daily_caps]
        if missing:
            raise ValueError(f"daily_caps has no cap for {', '.join(missing)}")
        if any(cap < 0 for cap in self.daily_caps.values()):
            raise ValueError("daily caps must be at least 0")
        if self.weekly_call_cap < 0 or self.quiet_days_after_conversation < 0:
            raise ValueError("weekly_call_cap and quiet_days_after_conversation must be at least 0")
        # Keep a read-only copy, so a caller who later changes their dict cannot change a policy in use.
        object.__setattr__(self, "daily_caps", MappingProxyType(dict(self.daily_caps)))


DEFAULT_POLICY = ContactPolicy()


@dataclass(frozen=True, slots=True)
class CustomerFlags:
    cease_contact: bool = False  # the customer asked us to stop contacting them
    dispute_open: bool = False  # a dispute on the debt is open
    vulnerable: frozenset[str] = frozenset()  # a subset of VULNERABILITIES

    def __post_init__(self) -> None:
        unknown = sorted(set(self.vulnerable) - set(VULNERABILITIES))
        if unknown:
            raise ValueError(
                f"unknown vulnerability {', '.join(unknown)}; known: {', '.join(VULNERABILITIES)}"
            )


@dataclass(frozen=True, slots=True)
class ContactHistory:
    # attempts made (not blocked) on the customer's local calendar day of this contact, per channel
    today_by_channel: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    # call attempts to the customer in their local week: the local day of this contact and the 6 before
    calls_last_7_days: int = 0
    last_conversation_at: datetime | None = None  # aware; the last call that reached the customer
    # aware; the latest entry on the customer's record: a contact made of any kind, a flag set or cleared
    latest_entry_at: datetime | None = None

    def __post_init__(self) -> None:
        _check_channels(self.today_by_channel, "today_by_channel")
        if any(n < 0 for n in self.today_by_channel.values()) or self.calls_last_7_days < 0:
            raise ValueError("attempt counts must be at least 0")
        if self.last_conversation_at is not None:
            _check_aware(self.last_conversation_at, "last_conversation_at")
        if self.latest_entry_at is not None:
            _check_aware(self.latest_entry_at, "latest_entry_at")
        object.__setattr__(self, "today_by_channel", MappingProxyType(dict(self.today_by_channel)))


@dataclass(frozen=True, slots=True)
class ContactRequest:
    channel: str
    party: str = "customer"
    purpose: str = "collect"
    discloses_debt: bool = True  # the template or message tells of the debt
    by_specialist: bool = False  # made by an agent trained for vulnerable customers

    def __post_init__(self) -> None:
        for name, value, known in (
            ("channel", self.channel, CHANNELS),
            ("party", self.party, PARTIES),
            ("purpose", self.purpose, PURPOSES),
        ):
            if value not in known:
                raise ValueError(f"unknown {name} {value!r}; known: {', '.join(known)}")


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    rule: str | None  # the id of the rule that blocked the contact; None when allowed
    reason: str


@dataclass(frozen=True, slots=True)
class _Case:
    """One request with everything a rule may look at, including the customer's local time."""

    request: ContactRequest
    at: datetime
    local: datetime
    flags: CustomerFlags
    history: ContactHistory
    policy: ContactPolicy


# Each rule returns the reason it blocks the contact, or None when it has nothing against it.
def _third_party_disclosure(c: _Case) -> str | None:
    if c.request.party == "third_party" and c.request.discloses_debt:
        return "a third party may not be told of the debt: use a message that does not mention it"
    return None


def _third_party_purpose(c: _Case) -> str | None:
    if c.request.party == "third_party" and c.request.purpose != "locate":
        return f"a third party may be contacted only to locate the customer, not for {c.request.purpose!r}"
    return None


def _cease_contact(c: _Case) -> str | None:
    r = c.request
    if c.flags.cease_contact and not (r.purpose == "legal_notice" and r.channel in _WRITTEN_NOTICE_CHANNELS):
        return (
            "the customer asked us to stop contacting them: only a legal notice by letter or email is allowed"
        )
    return None


def _dispute_open(c: _Case) -> str | None:
    r = c.request
    if c.flags.dispute_open and not (r.purpose == "legal_notice" and r.channel == "letter"):
        return "a dispute on the debt is open: contact is paused, except a legal notice by letter"
    return None


def _vulnerable_specialist(c: _Case) -> str | None:
    r = c.request
    if not c.flags.vulnerable or r.by_specialist:
        return None
    situation = ", ".join(sorted(c.flags.vulnerable))
    if r.channel in _IN_PERSON_CHANNELS:
        return f"the customer is vulnerable ({situation}): a {r.channel} must be made by a specialist agent"
    if r.purpose not in ("reminder", "legal_notice"):
        return (
            f"the customer is vulnerable ({situation}): only a reminder or a legal notice may go by "
            f"{r.channel} unless a specialist agent handles it"
        )
    return None


def _back_dated(c: _Case) -> str | None:
    latest = c.history.latest_entry_at
    # The same instant is allowed: end of day sends a customer's messages of a day together.
    if latest is not None and c.at < latest:
        on_record = latest.astimezone(c.local.tzinfo)
        return (
            f"back-dated: {c.local:%Y-%m-%d %H:%M} local time is before the latest entry on the "
            f"customer's record ({on_record:%Y-%m-%d %H:%M}, a contact or a flag set or cleared); "
            f"contacts are recorded in the order they happen"
        )
    return None


def _allowed_hours(c: _Case) -> str | None:
    p = c.policy
    if c.request.channel in _TIMED_CHANNELS and not p.start <= c.local.time() < p.end:
        return f"outside allowed hours {p.start:%H:%M}–{p.end:%H:%M} local time (it is {c.local:%H:%M})"
    return None


def _daily_cap(c: _Case) -> str | None:
    channel = c.request.channel
    made, cap = c.history.today_by_channel.get(channel, 0), c.policy.daily_caps[channel]
    if made >= cap:
        return f"daily cap reached for {channel}: {made} made today, the cap is {cap} per local day"
    return None


def _weekly_call_cap(c: _Case) -> str | None:
    made, cap = c.history.calls_last_7_days, c.policy.weekly_call_cap
    if c.request.channel == "call" and made >= cap:
        return (
            f"{made} calls in the last 7 local days (today and the 6 before): the cap is {cap} calls "
            f"in any 7 days"
        )
    return None


def _call_after_conversation(c: _Case) -> str | None:
    last, r = c.history.last_conversation_at, c.request
    if r.channel != "call" or r.party != "customer" or last is None:
        return None
    quiet = timedelta(days=c.policy.quiet_days_after_conversation)
    # A conversation recorded after `at` is a clock error; blocking is the safe reading of it.
    if c.at - last < quiet:
        until = (last + quiet).astimezone(c.local.tzinfo)
        return (
            f"a call reached the customer less than {quiet.days} days ago: "
            f"no call before {until:%Y-%m-%d %H:%M} local time"
        )
    return None


# The order of this table is the order of the checks: the first rule that blocks wins.
_CHECKS: tuple[tuple[str, Callable[[_Case], str | None]], ...] = (
    ("third_party_disclosure", _third_party_disclosure),
    ("third_party_purpose", _third_party_purpose),
    ("cease_contact", _cease_contact),
    ("dispute_open", _dispute_open),
    ("vulnerable_specialist", _vulnerable_specialist),
    ("back_dated", _back_dated),
    ("allowed_hours", _allowed_hours),
    ("daily_cap", _daily_cap),
    ("weekly_call_cap", _weekly_call_cap),
    ("call_after_conversation", _call_after_conversation),
)

_REG_F_CALLS = (
    "US CFPB Regulation F, 12 CFR 1006.14(b)(2) (a call is presumed harassing after 7 calls in 7 days, "
    "or within 7 days after a telephone conversation about the debt)"
)
_THIRD_PARTY = (
    "US CFPB Regulation F, 12 CFR 1006.10 (location information) and 1006.6(d) (no communication "
    "with third parties about the debt); PRC Personal Information Protection Law art. 10"
)

# The keys are in the order the rules are checked.
RULES: Mapping[str, RuleDoc] = MappingProxyType(
    {
        "third_party_disclosure": RuleDoc("A third party is never told of the debt", _THIRD_PARTY),
        "third_party_purpose": RuleDoc(
            "A third party is contacted only to locate the customer", _THIRD_PARTY
        ),
        "cease_contact": RuleDoc(
            "After a request to stop, only a legal notice in writing",
            "US CFPB Regulation F, 12 CFR 1006.6(c) (ceasing communication); PRC Civil Code art. 1033 "
            "(no disturbing another's private life by phone calls, text messages, emails and the like)",
        ),
        "dispute_open": RuleDoc(
            "While a dispute is open, contact pauses",
            "US FDCPA 15 U.S.C. 1692g(b) and Regulation F, 12 CFR 1006.34 (validation period: collection "
            "pauses on a dispute until the debt is verified); platform policy",
        ),
        "vulnerable_specialist": RuleDoc(
            "Vulnerable customers are handled by specialists",
            "UK FCA CONC 7.2 and 7.3 and guidance FG21/1 (fair treatment of vulnerable customers)",
        ),
        "back_dated": RuleDoc(
            "No contact timed before what is already on the customer's record",
            "platform policy: the record of contacts and flags runs forward in time, so no contact can "
            "hide from a rule about what came before it (a conversation, a request to stop) and every "
            "rule can be proved from the record; cf. "
            "US CFPB Regulation F, 12 CFR 1006.100 (records that evidence compliance)",
        ),
        "allowed_hours": RuleDoc(
            "No intrusive contact outside the allowed local hours",
            "US CFPB Regulation F, 12 CFR 1006.6(b)(1)(i) (inconvenient times: before 8 a.m. or after "
            "9 p.m. at the consumer's location)",
        ),
        "daily_cap": RuleDoc(
            "At most a few attempts per channel per local calendar day",
            "platform policy, in the spirit of US CFPB Regulation F and PRC Civil Code art. 1033; cf. PRC "
            "Criminal Law art. 293-1 (collecting illegal debts by violence, threats, intruding into "
            "homes or harassment is a crime)",
        ),
        "weekly_call_cap": RuleDoc("At most 7 calls in any 7 local calendar days", _REG_F_CALLS),
        "call_after_conversation": RuleDoc("No call within 7 days after a conversation", _REG_F_CALLS),
    }
)


def check_contact(
    request: ContactRequest,
    at: datetime,
    tz: str,
    flags: CustomerFlags,
    history: ContactHistory,
    policy: ContactPolicy = DEFAULT_POLICY,
) -> Verdict:
    """May this contact happen at ``at`` (aware) for a customer living in time zone ``tz`` (IANA name,
    for example "Asia/Shanghai")? Raises ValueError on a naive ``at`` or an unknown time zone."""
    _check_aware(at, "at")
    case = _Case(request, at, at.astimezone(_zone(tz)), flags, history, policy)
    for rule, check in _CHECKS:
        reason = check(case)
        if reason is not None:
            return Verdict(allowed=False, rule=rule, reason=reason)
    return Verdict(allowed=True, rule=None, reason="allowed: no contact rule blocks it")


# --- the history, derived from the record, for the live check and the proof alike ----------------


@dataclass(frozen=True, slots=True)
class PastContact:
    """One contact made (not blocked), as the rules need to know it."""

    at: datetime  # aware
    channel: str
    party: str = "customer"
    reached: bool = False  # the customer (or, for a third party, that person) answered

    def __post_init__(self) -> None:
        _check_aware(self.at, "at")
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}; known: {', '.join(CHANNELS)}")
        if self.party not in PARTIES:
            raise ValueError(f"unknown party {self.party!r}; known: {', '.join(PARTIES)}")


@dataclass(frozen=True, slots=True)
class Recorded:
    """One attempt as it stands in the record: what was asked, when, the flags in force when it was
    judged and the moments flags were set or cleared before then, and what happened (made or
    blocked; for a call, whether it reached the person)."""

    request: ContactRequest
    at: datetime  # aware
    flags: CustomerFlags
    allowed: bool
    reached: bool = False
    flag_changes: tuple[datetime, ...] = ()


def local_day(at: datetime, tz: str) -> date:
    """The customer's calendar date at the instant ``at`` (aware)."""
    _check_aware(at, "at")
    return at.astimezone(_zone(tz)).date()


def lookback(policy: ContactPolicy = DEFAULT_POLICY) -> timedelta:
    """How far back from a contact its history reaches: contacts made earlier than this cannot change
    a verdict, so a caller may load only those since (a contact timed later is never too old).

    A local week starts at most 7 days and a daylight-saving hour or two before the contact; the
    quiet period after a conversation may be set longer."""
    return timedelta(days=max(8, policy.quiet_days_after_conversation))


def history_from(
    made: Iterable[PastContact],
    at: datetime,
    tz: str,
    policy: ContactPolicy = DEFAULT_POLICY,
    flag_changes: Iterable[datetime] = (),
) -> ContactHistory:
    """What the rules know of the contacts made before one at ``at``, for a customer in ``tz``:
    attempts per channel on the customer's local day of ``at``, calls to the customer in that local
    week (the day and the 6 before), the last conversation with the customer (a reached call to them;
    a third party who answers is not the customer), and the latest entry on the record: a contact of
    any kind, or a flag set or cleared (``flag_changes``: aware moments).
    Entries older than :func:`lookback` are ignored, so a caller that loads only those since gives
    the same answer as one that passes the whole record."""
    _check_aware(at, "at")
    zone, since = _zone(tz), at - lookback(policy)
    today = at.astimezone(zone).date()
    week_start = today - timedelta(days=6)
    per_channel: Counter[str] = Counter()
    calls = 0
    talked: datetime | None = None
    latest: datetime | None = None
    for past in made:
        if past.at < since:
            continue
        day = past.at.astimezone(zone).date()
        if day == today:
            per_channel[past.channel] += 1
        to_customer_call = past.channel == "call" and past.party == "customer"
        if to_customer_call and week_start <= day <= today:
            calls += 1
        if to_customer_call and past.reached and (talked is None or past.at > talked):
            talked = past.at
        if latest is None or past.at > latest:
            latest = past.at
    for changed in flag_changes:
        _check_aware(changed, "flag_changes")
        if changed >= since and (latest is None or changed > latest):
            latest = changed
    return ContactHistory(dict(per_channel), calls, talked, latest)


def check_with_record(
    request: ContactRequest,
    at: datetime,
    tz: str,
    flags: CustomerFlags,
    made: Iterable[PastContact],
    policy: ContactPolicy = DEFAULT_POLICY,
    flag_changes: Iterable[datetime] = (),
) -> Verdict:
    """:func:`check_contact` with the history derived from the record so far (the contacts made,
    the moments flags changed): the one call every live channel makes, and the one the compliance
    proof replays."""
    history = history_from(made, at, tz, policy, flag_changes)
    return check_contact(request, at, tz, flags, history, policy)


def replay(attempts: Sequence[Recorded], tz: str, policy: ContactPolicy = DEFAULT_POLICY) -> list[Verdict]:
    """The verdict of every attempt of one customer, given in the order they were recorded, each
    judged by :func:`check_with_record` on the contacts recorded as made before it. The proof of
    compliance: a contact made that the replay blocks broke a rule when it was made."""
    made: list[PastContact] = []
    verdicts = []
    for attempt in attempts:
        verdicts.append(
            check_with_record(
                attempt.request, attempt.at, tz, attempt.flags, made, policy, attempt.flag_changes
            )
        )
        if attempt.allowed:  # what is on record as made happened, whatever the replay says of it
            request = attempt.request
            made.append(PastContact(attempt.at, request.channel, request.party, attempt.reached))
    return verdicts


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as error:
        # ZoneInfoNotFoundError is a KeyError. Callers expect a ValueError for any bad input.
        raise ValueError(f"unknown time zone {tz!r}") from error
