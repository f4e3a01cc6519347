"""The contact policy as tables of cases. Each rule gets a blocked case and the nearest allowed one,
so the test shows that the rule blocks exactly at its edge. A property test checks every verdict
against the rules written out again here, independently of the module."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bnpl.domain.contact_policy import (
    CHANNELS,
    DEFAULT_DAILY_CAPS,
    DEFAULT_POLICY,
    PARTIES,
    PURPOSES,
    RULES,
    VULNERABILITIES,
    ContactHistory,
    ContactPolicy,
    ContactRequest,
    CustomerFlags,
    PastContact,
    Verdict,
    check_contact,
)

SHANGHAI = "Asia/Shanghai"
DAY = (2026, 3, 2)  # a Monday


def local(hh: int, mm: int = 0, tz: str = SHANGHAI, ss: int = 0) -> datetime:
    """The UTC instant at which the customer's clock in ``tz`` shows hh:mm:ss on DAY."""
    return datetime(*DAY, hh, mm, ss, tzinfo=ZoneInfo(tz)).astimezone(UTC)


NOON = local(12)


def check(
    channel: str = "call",
    *,
    at: datetime = NOON,
    tz: str = SHANGHAI,
    flags: CustomerFlags = CustomerFlags(),
    history: ContactHistory = ContactHistory(),
    policy: ContactPolicy = DEFAULT_POLICY,
    **request: Any,
) -> Verdict:
    return check_contact(ContactRequest(channel, **request), at, tz, flags, history, policy)


def rule_of(verdict: Verdict) -> str | None:
    assert verdict.allowed == (verdict.rule is None)
    return verdict.rule


# --- one table per rule: (case, the rule that blocks it or None) -------------------------------


@pytest.mark.parametrize(
    ("party", "purpose", "discloses_debt", "expected"),
    [
        ("third_party", "locate", True, "third_party_disclosure"),
        ("third_party", "locate", False, None),  # the one lawful third-party contact
        ("third_party", "collect", False, "third_party_purpose"),
        ("third_party", "reminder", False, "third_party_purpose"),
        ("third_party", "legal_notice", False, "third_party_purpose"),
        ("customer", "collect", True, None),  # the customer may of course be told of their own debt
    ],
)
def test_third_party_rules(party: str, purpose: str, discloses_debt: bool, expected: str | None) -> None:
    for channel in ("call", "sms"):
        verdict = check(channel, party=party, purpose=purpose, discloses_debt=discloses_debt)
        assert rule_of(verdict) == expected


@pytest.mark.parametrize(
    ("channel", "purpose", "expected"),
    [
        ("letter", "legal_notice", None),
        ("email", "legal_notice", None),
        ("sms", "legal_notice", "cease_contact"),
        ("call", "legal_notice", "cease_contact"),
        ("field_visit", "legal_notice", "cease_contact"),
        ("letter", "collect", "cease_contact"),
        ("push", "reminder", "cease_contact"),
    ],
)
def test_cease_contact(channel: str, purpose: str, expected: str | None) -> None:
    assert rule_of(check(channel, purpose=purpose, flags=CustomerFlags(cease_contact=True))) == expected
    assert check(channel, purpose=purpose).allowed  # the same contact without the request to stop


@pytest.mark.parametrize(
    ("channel", "purpose", "expected"),
    [
        ("letter", "legal_notice", None),
        ("email", "legal_notice", "dispute_open"),  # only a letter while a dispute is open
        ("letter", "reminder", "dispute_open"),
        ("push", "reminder", "dispute_open"),
        ("call", "collect", "dispute_open"),
        ("sms", "locate", "dispute_open"),
        ("field_visit", "legal_notice", "dispute_open"),
    ],
)
def test_dispute_open(channel: str, purpose: str, expected: str | None) -> None:
    assert rule_of(check(channel, purpose=purpose, flags=CustomerFlags(dispute_open=True))) == expected
    assert check(channel, purpose=purpose).allowed


@pytest.mark.parametrize(
    ("channel", "purpose", "by_specialist", "expected"),
    [
        ("call", "collect", False, "vulnerable_specialist"),
        ("call", "collect", True, None),
        ("call", "reminder", False, "vulnerable_specialist"),  # a call is a call, whatever it is for
        ("field_visit", "legal_notice", False, "vulnerable_specialist"),
        ("field_visit", "legal_notice", True, None),
        ("sms", "collect", False, "vulnerable_specialist"),
        ("sms", "collect", True, None),
        ("sms", "reminder", False, None),
        ("push", "locate", False, "vulnerable_specialist"),
        ("email", "collect", False, "vulnerable_specialist"),
        ("letter", "legal_notice", False, None),
    ],
)
def test_vulnerable_specialist(channel: str, purpose: str, by_specialist: bool, expected: str | None) -> None:
    for situation in VULNERABILITIES:
        flags = CustomerFlags(vulnerable=frozenset({situation}))
        verdict = check(channel, purpose=purpose, by_specialist=by_specialist, flags=flags)
        assert rule_of(verdict) == expected
        if expected:
            assert situation in verdict.reason
    assert check(channel, purpose=purpose).allowed  # the same contact for a customer with no flag


@pytest.mark.parametrize(
    ("hh", "mm", "ss", "expected"),
    [
        (7, 59, 59, "allowed_hours"),
        (8, 0, 0, None),
        (20, 59, 59, None),
        (21, 0, 0, "allowed_hours"),
        (0, 0, 0, "allowed_hours"),
    ],
)
@pytest.mark.parametrize("channel", ["push", "sms", "call", "field_visit"])
def test_allowed_hours(channel: str, hh: int, mm: int, ss: int, expected: str | None) -> None:
    assert rule_of(check(channel, at=local(hh, mm, ss=ss))) == expected


@pytest.mark.parametrize("channel", ["letter", "email"])
@pytest.mark.parametrize("hh", [0, 3, 7, 21, 23])
def test_letters_and_emails_are_not_held_to_hours(channel: str, hh: int) -> None:
    assert check(channel, at=local(hh)).allowed


def test_the_hours_reason_says_what_time_it_is() -> None:
    verdict = check("call", at=local(21, 30))
    assert verdict.reason == "outside allowed hours 08:00–21:00 local time (it is 21:30)"


def test_a_policy_with_other_hours() -> None:
    late = ContactPolicy(start=time(9, 30), end=time(18, 0))
    assert rule_of(check(at=local(9, 29), policy=late)) == "allowed_hours"
    assert rule_of(check(at=local(9, 30), policy=late)) is None
    assert rule_of(check(at=local(18, 0), policy=late)) == "allowed_hours"


@pytest.mark.parametrize("channel", CHANNELS)
def test_daily_cap(channel: str) -> None:
    cap = DEFAULT_DAILY_CAPS[channel]
    purpose = "reminder" if channel != "letter" else "legal_notice"
    below = ContactHistory(today_by_channel={channel: cap - 1})
    at_cap = ContactHistory(today_by_channel={channel: cap})
    assert rule_of(check(channel, purpose=purpose, history=below)) is None
    verdict = check(channel, purpose=purpose, history=at_cap)
    assert rule_of(verdict) == "daily_cap"
    assert channel in verdict.reason and f"the cap is {cap}" in verdict.reason


def test_daily_caps_count_each_channel_apart() -> None:
    busy = ContactHistory(today_by_channel={"sms": 2, "push": 2, "call": 2})
    assert check("call", history=busy).allowed
    assert rule_of(check("sms", history=busy)) == "daily_cap"


@pytest.mark.parametrize(
    ("channel", "calls_before", "expected"),
    [
        ("call", 6, None),  # the 7th call in 7 days
        ("call", 7, "weekly_call_cap"),  # the 8th
        ("sms", 50, None),  # the weekly cap is on calls only
    ],
)
def test_weekly_call_cap(channel: str, calls_before: int, expected: str | None) -> None:
    assert rule_of(check(channel, history=ContactHistory(calls_last_7_days=calls_before))) == expected


@pytest.mark.parametrize(
    ("ago", "channel", "party", "expected"),
    [
        (timedelta(days=6, hours=23), "call", "customer", "call_after_conversation"),
        (timedelta(days=7) - timedelta(seconds=1), "call", "customer", "call_after_conversation"),
        (timedelta(days=7), "call", "customer", None),
        (timedelta(hours=1), "sms", "customer", None),  # only calls wait
        (timedelta(hours=1), "call", "third_party", None),  # only calls to the customer wait
        (-timedelta(hours=1), "call", "customer", "call_after_conversation"),  # a clock error: block
    ],
)
def test_call_after_conversation(ago: timedelta, channel: str, party: str, expected: str | None) -> None:
    history = ContactHistory(last_conversation_at=NOON - ago)
    purpose = "locate" if party == "third_party" else "collect"
    verdict = check(channel, party=party, purpose=purpose, discloses_debt=False, history=history)
    assert rule_of(verdict) == expected


def test_the_conversation_reason_says_when_calls_may_resume() -> None:
    history = ContactHistory(last_conversation_at=local(15))
    verdict = check(at=local(15) + timedelta(days=3), history=history)
    assert "no call before 2026-03-09 15:00 local time" in verdict.reason


# --- time zones ------------------------------------------------------------------------------------


def test_the_same_instant_is_allowed_in_shanghai_but_not_in_los_angeles() -> None:
    instant = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai, 22:00 the day before in LA
    assert check(at=instant, tz=SHANGHAI).allowed
    verdict = check(at=instant, tz="America/Los_Angeles")
    assert rule_of(verdict) == "allowed_hours" and "it is 22:00" in verdict.reason


def test_daylight_saving_time_moves_the_window() -> None:
    # Los Angeles moves its clocks forward on 2026-03-08: 15:30 UTC is 07:30 before and 08:30 after.
    before, after = datetime(2026, 3, 7, 15, 30, tzinfo=UTC), datetime(2026, 3, 9, 15, 30, tzinfo=UTC)
    assert rule_of(check(at=before, tz="America/Los_Angeles")) == "allowed_hours"
    assert check(at=after, tz="America/Los_Angeles").allowed


def test_an_aware_non_utc_instant_means_the_same_moment() -> None:
    in_tokyo = datetime(*DAY, 21, 30, tzinfo=ZoneInfo("Asia/Tokyo"))  # 20:30 in Shanghai
    assert check(at=in_tokyo).allowed


# --- order, reachability and the rule documents --------------------------------------------------

# Changes to an innocent case (a daytime call to the customer about the debt, no history) that each
# break exactly one rule. Request fields and the case's other inputs share one namespace.
BREAKERS: dict[str, dict[str, Any]] = {
    "third_party_disclosure": {"party": "third_party", "purpose": "locate", "discloses_debt": True},
    "third_party_purpose": {"party": "third_party", "purpose": "collect", "discloses_debt": False},
    "cease_contact": {"cease_contact": True},
    "dispute_open": {"dispute_open": True},
    "vulnerable_specialist": {"vulnerable": frozenset({"hardship"})},
    "back_dated": {"latest_entry_ago": -timedelta(minutes=1)},
    "allowed_hours": {"hour": 22},
    "daily_cap": {"calls_today": 3},
    "weekly_call_cap": {"calls_last_7_days": 7},
    "call_after_conversation": {"conversation_ago": timedelta(days=1)},
}
INNOCENT: dict[str, Any] = {
    "party": "customer",
    "purpose": "collect",
    "discloses_debt": True,
    "by_specialist": False,
    "cease_contact": False,
    "dispute_open": False,
    "vulnerable": frozenset(),
    "hour": 10,
    "calls_today": 0,
    "calls_last_7_days": 0,
    "conversation_ago": None,
    "latest_entry_ago": None,
}


def run(case: dict[str, Any]) -> Verdict:
    c = {**INNOCENT, **case}
    ago: timedelta | None = c["conversation_ago"]
    latest_ago: timedelta | None = c["latest_entry_ago"]
    at = local(c["hour"])
    return check_contact(
        ContactRequest("call", c["party"], c["purpose"], c["discloses_debt"], c["by_specialist"]),
        at,
        SHANGHAI,
        CustomerFlags(c["cease_contact"], c["dispute_open"], c["vulnerable"]),
        ContactHistory(
            {"call": c["calls_today"]},
            c["calls_last_7_days"],
            None if ago is None else at - ago,
            None if latest_ago is None else at - latest_ago,
        ),
    )


def test_the_innocent_case_is_allowed() -> None:
    verdict = run({})
    assert verdict == Verdict(True, None, verdict.reason) and verdict.reason


@pytest.mark.parametrize("rule", list(BREAKERS))
def test_each_breaker_breaks_its_rule(rule: str) -> None:
    verdict = run(BREAKERS[rule])
    assert rule_of(verdict) == rule
    assert verdict.reason


def test_every_rule_is_reachable_and_documented() -> None:
    assert set(BREAKERS) == set(RULES)
    assert {rule_of(run(b)) for b in BREAKERS.values()} == set(RULES)
    for doc in RULES.values():
        assert doc.title and doc.source


PAIRS = [
    (first, later)
    for i, first in enumerate(RULES)
    for later in list(RULES)[i + 1 :]
    # two breakers that set the same input differently cannot both hold
    if all(BREAKERS[first][k] == v for k, v in BREAKERS[later].items() if k in BREAKERS[first])
]


@pytest.mark.parametrize(("first", "later"), PAIRS)
def test_of_two_broken_rules_the_earlier_one_is_reported(first: str, later: str) -> None:
    assert rule_of(run({**BREAKERS[later], **BREAKERS[first]})) == first


def test_rules_are_checked_in_the_order_rules_lists_them() -> None:
    # Break every rule at once, then mend them one at a time. A third party told of the debt while
    # we collect breaks the first two rules; once the party is the customer, the last rule applies.
    case = {k: v for b in BREAKERS.values() for k, v in b.items()}
    case |= {"party": "third_party", "purpose": "collect", "discloses_debt": True}
    mends: list[dict[str, Any]] = [
        {"discloses_debt": False},
        {"party": "customer"},
        {"cease_contact": False},
        {"dispute_open": False},
        {"by_specialist": True},
        {"latest_entry_ago": None},
        {"hour": 10},
        {"calls_today": 0},
        {"calls_last_7_days": 0},
        {"conversation_ago": None},
    ]
    seen = []
    for mend in mends:
        seen.append(rule_of(run(case)))
        case |= mend
    assert seen == list(RULES)
    assert run(case).allowed


# --- bad inputs ------------------------------------------------------------------------------------

NAIVE = datetime(*DAY, 12)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: check(at=NAIVE), "aware"),
        (lambda: check(tz="Mars/Olympus_Mons"), "time zone"),
        (lambda: check(tz=""), "time zone"),
        (lambda: check(tz="../etc/passwd"), "time zone"),
        (lambda: ContactRequest("fax"), "channel"),
        (lambda: ContactRequest("call", party="neighbour"), "party"),
        (lambda: ContactRequest("call", purpose="shame"), "purpose"),
        (lambda: ContactPolicy(start=time(21), end=time(8)), "before"),
        (lambda: ContactPolicy(start=time(8), end=time(8)), "before"),
        (lambda: ContactPolicy(start=time(8, tzinfo=UTC)), "tzinfo"),
        (lambda: ContactPolicy(daily_caps={**DEFAULT_DAILY_CAPS, "sms": -1}), "at least 0"),
        (lambda: ContactPolicy(daily_caps={**DEFAULT_DAILY_CAPS, "fax": 1}), "unknown channel"),
        (lambda: ContactPolicy(daily_caps={"call": 2}), "no cap for"),
        (lambda: ContactPolicy(weekly_call_cap=-1), "at least 0"),
        (lambda: ContactPolicy(quiet_days_after_conversation=-1), "at least 0"),
        (lambda: CustomerFlags(vulnerable=frozenset({"sad"})), "unknown vulnerability"),
        (lambda: ContactHistory(today_by_channel={"fax": 1}), "unknown channel"),
        (lambda: ContactHistory(today_by_channel={"sms": -1}), "at least 0"),
        (lambda: ContactHistory(calls_last_7_days=-1), "at least 0"),
        (lambda: ContactHistory(last_conversation_at=NAIVE), "aware"),
        (lambda: ContactHistory(latest_entry_at=NAIVE), "aware"),
        (lambda: PastContact(NAIVE, "call"), "aware"),
        (lambda: PastContact(NOON, "fax"), "channel"),
        (lambda: PastContact(NOON, "call", party="neighbour"), "party"),
    ],
)
def test_bad_inputs_raise_value_error(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_a_policy_keeps_its_own_copy_of_the_caps() -> None:
    caps = dict(DEFAULT_DAILY_CAPS)
    policy = ContactPolicy(daily_caps=caps)
    caps["sms"] = 0
    assert policy.daily_caps["sms"] == 2
    with pytest.raises(TypeError):
        policy.daily_caps["sms"] = 0  # type: ignore[index]


# --- the property: every verdict agrees with the rules written out again --------------------------

ZONES = [SHANGHAI, "America/Los_Angeles", "Asia/Kolkata", "Asia/Kathmandu", "Europe/London", "UTC"]


def expected_rule(
    request: ContactRequest,
    at: datetime,
    tz: str,
    flags: CustomerFlags,
    history: ContactHistory,
    policy: ContactPolicy,
) -> str | None:
    """The first rule the contact breaks, derived without the module's code."""
    third = request.party == "third_party"
    spoken = request.channel in ("call", "field_visit")
    wall = at.astimezone(ZoneInfo(tz))

    def micros(t: datetime | time) -> int:  # since local midnight, on the wall clock
        return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond

    start, now, end = micros(policy.start), micros(wall), micros(policy.end)
    last, latest = history.last_conversation_at, history.latest_entry_at
    broken = [
        ("third_party_disclosure", third and request.discloses_debt),
        ("third_party_purpose", third and request.purpose != "locate"),
        (
            "cease_contact",
            flags.cease_contact
            and (request.purpose != "legal_notice" or request.channel not in ("letter", "email")),
        ),
        (
            "dispute_open",
            flags.dispute_open and (request.purpose, request.channel) != ("legal_notice", "letter"),
        ),
        (
            "vulnerable_specialist",
            bool(flags.vulnerable)
            and not request.by_specialist
            and (spoken or request.purpose in ("collect", "locate")),
        ),
        ("back_dated", latest is not None and (latest - at).total_seconds() > 0),
        (
            "allowed_hours",
            request.channel in ("push", "sms", "call", "field_visit") and not (start <= now < end),
        ),
        ("daily_cap", history.today_by_channel.get(request.channel, 0) >= policy.daily_caps[request.channel]),
        (
            "weekly_call_cap",
            request.channel == "call" and history.calls_last_7_days >= policy.weekly_call_cap,
        ),
        (
            "call_after_conversation",
            request.channel == "call"
            and not third
            and last is not None
            and (at - last).total_seconds() < policy.quiet_days_after_conversation * 86400,
        ),
    ]
    return next((rule for rule, is_broken in broken if is_broken), None)


requests = st.builds(
    ContactRequest,
    channel=st.sampled_from(CHANNELS),
    party=st.sampled_from(PARTIES),
    purpose=st.sampled_from(PURPOSES),
    discloses_debt=st.booleans(),
    by_specialist=st.booleans(),
)
flags_st = st.builds(
    CustomerFlags,
    cease_contact=st.booleans(),
    dispute_open=st.booleans(),
    vulnerable=st.frozensets(st.sampled_from(VULNERABILITIES)),
)
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@st.composite
def policies(draw: st.DrawFn) -> ContactPolicy:
    if draw(st.booleans()):
        return DEFAULT_POLICY
    start, end = sorted(draw(st.lists(st.times(), min_size=2, max_size=2, unique=True)))
    return ContactPolicy(
        start,
        end,
        draw(st.fixed_dictionaries({c: st.integers(0, 4) for c in CHANNELS})),
        draw(st.integers(0, 10)),
        draw(st.integers(0, 10)),
    )


@st.composite
def histories(draw: st.DrawFn, at: datetime) -> ContactHistory:
    ago = draw(st.none() | st.timedeltas(min_value=timedelta(hours=-2), max_value=timedelta(days=12)))
    # mostly at or before the contact, as a well-kept record has it; sometimes after it
    some_time = st.timedeltas(min_value=timedelta(hours=-2), max_value=timedelta(days=3))
    latest_ago = draw(st.none() | st.just(timedelta(0)) | some_time)
    return ContactHistory(
        draw(st.dictionaries(st.sampled_from(CHANNELS), st.integers(0, 4))),
        draw(st.integers(0, 10)),
        None if ago is None else at - ago,
        None if latest_ago is None else at - latest_ago,
    )


@settings(max_examples=500)
@given(st.data(), requests, instants, st.sampled_from(ZONES), flags_st, policies())
def test_every_verdict_agrees_with_the_rules(
    data: st.DataObject,
    request: ContactRequest,
    at: datetime,
    tz: str,
    flags: CustomerFlags,
    policy: ContactPolicy,
) -> None:
    history = data.draw(histories(at))
    verdict = check_contact(request, at, tz, flags, history, policy)
    expected = expected_rule(request, at, tz, flags, history, policy)
    if verdict.allowed:
        assert verdict.rule is None
        assert expected is None  # nothing the rules forbid gets through
    else:
        assert verdict.rule in RULES
        assert verdict.rule == expected  # and it names the first rule broken, no other
        assert verdict.reason
