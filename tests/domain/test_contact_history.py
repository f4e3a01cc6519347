"""What the contact policy knows of earlier contacts, derived from the record by one function for the
live check and the compliance proof alike: caps by the customer's local calendar day and local week,
conversations with the customer only, no contact timed before one on record — and the replay of a
record agreeing with the decisions that wrote it, whatever the record holds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bnpl.domain.contact_policy import (
    CHANNELS,
    DEFAULT_POLICY,
    PARTIES,
    ContactPolicy,
    ContactRequest,
    CustomerFlags,
    PastContact,
    Recorded,
    Verdict,
    check_with_record,
    history_from,
    local_day,
    lookback,
    replay,
)

NEW_YORK, SHANGHAI = "America/New_York", "Asia/Shanghai"
CALL = ContactRequest("call")
SMS = ContactRequest("sms")
NO_FLAGS = CustomerFlags()


def at(tz: str, y: int, mo: int, d: int, hh: int, mm: int = 0) -> datetime:
    """The UTC instant at which the wall clock in ``tz`` shows the given time."""
    return datetime(y, mo, d, hh, mm, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def calls(*moments: datetime, party: str = "customer", reached: bool = False) -> list[PastContact]:
    return [PastContact(m, "call", party, reached) for m in moments]


# --- the daily cap counts the customer's calendar day --------------------------------------------


def test_four_calls_on_one_new_york_day_across_two_shanghai_dates_hit_the_daily_cap() -> None:
    # 09:00-09:10 in New York on 3 December is 22:00-22:10 in Shanghai (the platform's date 12-03);
    # 11:30 is 00:30 on 4 December there. All four are on the customer's 3 December.
    made = calls(*(at(NEW_YORK, 2026, 12, 3, 9, m) for m in (0, 5, 10)))
    fourth = at(NEW_YORK, 2026, 12, 3, 11, 30)
    assert [local_day(c.at, SHANGHAI) for c in made] == [date(2026, 12, 3)] * 3
    assert local_day(fourth, SHANGHAI) == date(2026, 12, 4)
    assert history_from(made, fourth, NEW_YORK).today_by_channel == {"call": 3}
    verdict = check_with_record(CALL, fourth, NEW_YORK, NO_FLAGS, made)
    assert (verdict.allowed, verdict.rule) == (False, "daily_cap")
    assert "per local day" in verdict.reason
    # the customer's next morning is a new day, though it is the same Shanghai date as the fourth call
    next_morning = at(NEW_YORK, 2026, 12, 4, 9)
    assert local_day(next_morning, SHANGHAI) == date(2026, 12, 4)
    assert check_with_record(CALL, next_morning, NEW_YORK, NO_FLAGS, made).allowed


def test_the_local_day_ends_at_local_midnight_not_24_hours_later() -> None:
    made = calls(*(at(SHANGHAI, 2026, 3, 2, h) for h in (18, 19, 20)))
    assert check_with_record(CALL, at(SHANGHAI, 2026, 3, 2, 20, 30), SHANGHAI, NO_FLAGS, made).rule == (
        "daily_cap"
    )
    assert check_with_record(CALL, at(SHANGHAI, 2026, 3, 3, 8), SHANGHAI, NO_FLAGS, made).allowed


def test_every_party_counts_toward_a_channels_daily_cap() -> None:
    made = [PastContact(at(SHANGHAI, 2026, 3, 2, 9), "sms", "third_party"), *calls()]
    made.append(PastContact(at(SHANGHAI, 2026, 3, 2, 10), "sms"))
    assert history_from(made, at(SHANGHAI, 2026, 3, 2, 11), SHANGHAI).today_by_channel == {"sms": 2}


# --- the weekly call cap counts the local week: the day and the six before -------------------------


def test_the_weekly_cap_counts_seven_local_days() -> None:
    # one call a day at 20:00 on 2-8 March (Shanghai): the 8th call on 8 March is the 8th in 7 days
    week = calls(*(at(SHANGHAI, 2026, 3, d, 20) for d in range(2, 9)))
    eighth = at(SHANGHAI, 2026, 3, 8, 20, 30)
    assert check_with_record(CALL, eighth, SHANGHAI, NO_FLAGS, week[:-1]).allowed  # the 7th
    assert history_from(week, eighth, SHANGHAI).calls_last_7_days == 7
    assert check_with_record(CALL, eighth, SHANGHAI, NO_FLAGS, week).rule == "weekly_call_cap"
    nine_am = at(SHANGHAI, 2026, 3, 9, 9)  # 9 March: the call on 2 March is out of the local week
    assert history_from(week, nine_am, SHANGHAI).calls_last_7_days == 6
    # ... though it was only 6 days and 13 hours before: the week is calendar days, not 168 hours
    assert nine_am - week[0].at < timedelta(days=7)
    assert check_with_record(CALL, nine_am, SHANGHAI, NO_FLAGS, week).allowed


def test_the_eighth_call_in_a_local_week_is_blocked() -> None:
    week = calls(*(at(SHANGHAI, 2026, 3, d, 9) for d in range(2, 9)))
    verdict = check_with_record(CALL, at(SHANGHAI, 2026, 3, 8, 15), SHANGHAI, NO_FLAGS, week)
    assert verdict.rule == "weekly_call_cap" and "7 local days" in verdict.reason
    assert check_with_record(SMS, at(SHANGHAI, 2026, 3, 8, 15), SHANGHAI, NO_FLAGS, week).allowed


def test_calls_to_a_third_party_are_not_calls_to_the_customer_in_the_week() -> None:
    week = calls(*(at(SHANGHAI, 2026, 3, d, 9) for d in range(2, 9)), party="third_party")
    assert history_from(week, at(SHANGHAI, 2026, 3, 8, 15), SHANGHAI).calls_last_7_days == 0


# --- conversations are with the customer -----------------------------------------------------------


def test_a_third_party_who_answers_is_no_conversation_with_the_customer() -> None:
    locate = calls(at(SHANGHAI, 2026, 3, 2, 10), party="third_party", reached=True)
    later = at(SHANGHAI, 2026, 3, 2, 15)
    assert history_from(locate, later, SHANGHAI).last_conversation_at is None
    assert check_with_record(CALL, later, SHANGHAI, NO_FLAGS, locate).allowed
    talked = calls(at(SHANGHAI, 2026, 3, 2, 10), reached=True)
    assert check_with_record(CALL, later, SHANGHAI, NO_FLAGS, talked).rule == "call_after_conversation"


# --- no contact timed before one on record --------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "offset", "expected"),
    [
        (CALL, -timedelta(days=1), "back_dated"),  # `--date` a day back, after a conversation
        (SMS, -timedelta(days=1), "back_dated"),  # whatever the channel
        (SMS, -timedelta(seconds=1), "back_dated"),
        (SMS, timedelta(0), None),  # the same instant: end of day sends a day's messages together
        (SMS, timedelta(seconds=1), None),
        (ContactRequest("letter", purpose="legal_notice"), -timedelta(hours=1), "back_dated"),
    ],
)
def test_a_contact_timed_before_the_latest_on_record_is_back_dated(
    request_: ContactRequest, offset: timedelta, expected: str | None
) -> None:
    on_record = calls(at(SHANGHAI, 2026, 12, 3, 10), reached=True)
    verdict = check_with_record(request_, on_record[0].at + offset, SHANGHAI, NO_FLAGS, on_record)
    assert verdict.rule == expected
    if expected:
        assert "back-dated" in verdict.reason and "2026-12-03 10:00" in verdict.reason


def test_back_dating_is_judged_before_the_caps_so_the_reason_is_the_real_one() -> None:
    conversation = calls(at(SHANGHAI, 2026, 12, 3, 10), reached=True)
    verdict = check_with_record(CALL, at(SHANGHAI, 2026, 12, 2, 10), SHANGHAI, NO_FLAGS, conversation)
    assert verdict.rule == "back_dated"  # not "a call reached the customer less than 7 days ago"


# --- the lookback -----------------------------------------------------------------------------------


def test_contacts_older_than_the_lookback_change_nothing() -> None:
    now = at(SHANGHAI, 2026, 3, 20, 12)
    old = calls(now - lookback() - timedelta(seconds=1), reached=True)
    assert history_from(old, now, SHANGHAI) == history_from([], now, SHANGHAI)
    long_quiet = ContactPolicy(quiet_days_after_conversation=30)
    assert lookback(long_quiet) == timedelta(days=30)
    verdict = check_with_record(CALL, now, SHANGHAI, NO_FLAGS, old, long_quiet)
    assert verdict.rule == "call_after_conversation"


# --- properties -----------------------------------------------------------------------------------

ZONES = [SHANGHAI, NEW_YORK, "America/Los_Angeles", "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Kiritimati"]
BASE = datetime(2026, 3, 1, tzinfo=UTC)
moments = st.integers(0, 20 * 24 * 60).map(lambda m: BASE + timedelta(minutes=m))
pasts = st.builds(PastContact, moments, st.sampled_from(CHANNELS), st.sampled_from(PARTIES), st.booleans())


@settings(max_examples=300)
@given(st.lists(pasts, max_size=30), moments, st.sampled_from(ZONES))
def test_the_history_agrees_with_the_record_counted_again(
    made: list[PastContact], now: datetime, tz: str
) -> None:
    """Each figure counted again by hand, from the customer's wall-clock date of each contact."""
    zone = ZoneInfo(tz)
    recent = [p for p in made if now - p.at <= lookback()]
    today = now.astimezone(zone).date()
    days_ago = [(today - p.at.astimezone(zone).date()).days for p in recent]
    history = history_from(made, now, tz)
    for channel in CHANNELS:
        same_day = sum(1 for p, n in zip(recent, days_ago, strict=True) if p.channel == channel and n == 0)
        assert history.today_by_channel.get(channel, 0) == same_day
    assert history.calls_last_7_days == sum(
        1
        for p, n in zip(recent, days_ago, strict=True)
        if p.channel == "call" and p.party == "customer" and 0 <= n <= 6
    )
    talks = [p.at for p in recent if p.channel == "call" and p.party == "customer" and p.reached]
    assert history.last_conversation_at == (max(talks) if talks else None)
    assert history.latest_entry_at == (max(p.at for p in recent) if recent else None)


requests = st.builds(
    ContactRequest,
    channel=st.sampled_from(CHANNELS),
    party=st.sampled_from(PARTIES),
    purpose=st.sampled_from(["locate", "collect", "reminder", "legal_notice"]),
    discloses_debt=st.booleans(),
    by_specialist=st.booleans(),
)
flag_sets = st.builds(
    CustomerFlags, st.booleans(), st.booleans(), st.frozensets(st.sampled_from(["hardship"]))
)
attempts = st.tuples(
    requests,
    # mostly forward in time, now and then an entry timed before the last (an operator's --date)
    st.integers(-36 * 60, 3 * 24 * 60),
    flag_sets,
    st.booleans(),  # whether a call, once made, reached the person
)


@settings(max_examples=300)
@given(st.lists(attempts, max_size=25), st.sampled_from(ZONES), st.booleans())
def test_live_decisions_and_the_replay_of_their_record_agree(
    steps: list[tuple[ContactRequest, int, CustomerFlags, bool]], tz: str, forged: bool
) -> None:
    """Decide each attempt live on what was made before it and record it as decided; the replay of
    that record gives every attempt the same verdict. A contact forced through against the verdict
    (a forged record) is the only kind the replay finds at fault."""
    now, made, record, live = BASE, list[PastContact](), list[Recorded](), list[Verdict]()
    for n, (request, minutes, flags, reached) in enumerate(steps):
        now += timedelta(minutes=minutes)
        verdict = check_with_record(request, now, tz, flags, made, DEFAULT_POLICY)
        allowed = verdict.allowed or (forged and n % 3 == 0)
        talked = allowed and request.channel == "call" and reached
        record.append(Recorded(request, now, flags, allowed, talked))
        live.append(verdict)
        if allowed:
            made.append(PastContact(now, request.channel, request.party, talked))
    assert replay(record, tz) == live
    faults = [r for r, v in zip(record, replay(record, tz), strict=True) if r.allowed and not v.allowed]
    assert faults == [r for r, v in zip(record, live, strict=True) if r.allowed and not v.allowed]
