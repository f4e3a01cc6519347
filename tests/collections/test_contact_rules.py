"""The contact rules on the recorded contacts, live and in the compliance proof: caps by the
customer's local day, no contact timed before the customer's record, a third party's answer is no
conversation with the customer, end of day's sends never timed before the record, field visits
suggested only where a request would be allowed — and, for any history of contacts, the live
decisions and the proof's replay of them agree. SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from bnpl.collections import cases, compliance, contacts, visits, work
from bnpl.domain.errors import InvalidInput
from bnpl.runtime import ADMIN, FixedClock, Platform
from bnpl.services import parties
from bnpl.store import tables as t
from tests.collections import helpers as h
from tests.world import World

SHANGHAI, NEW_YORK = ZoneInfo("Asia/Shanghai"), "America/New_York"


class Wall(FixedClock):
    """The platform's clock at a chosen instant: the business date is the Shanghai date of it."""

    def __init__(self, moment: datetime) -> None:
        super().__init__(moment.astimezone(SHANGHAI).date())
        self.moment = moment

    def set(self, moment: datetime) -> None:
        self.moment, self.day = moment, moment.astimezone(SHANGHAI).date()

    def now(self) -> datetime:
        return self.moment


def wall(platform: Platform) -> Wall:
    assert isinstance(platform.clock, Wall)
    return platform.clock


def local(tz: str, y: int, mo: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, mo, d, hh, mm, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def desk(platform: Platform, tz: str, moment: datetime) -> tuple[int, int, int]:
    """A customer in ``tz`` with an open M1 case in an agent's queue, the clock at ``moment``:
    (customer, case, agent)."""
    platform.clock = Wall(moment)
    customer = platform.run(ADMIN, lambda c: parties.create_customer(c, "Shopper", 1000_00, timezone=tz))
    agent = platform.run(ADMIN, lambda c: cases.create_agent(c, "Ann", "agent", []))["id"]
    case = platform.run(
        ADMIN,
        lambda c: c.conn.execute(
            insert(t.collection_cases)
            .values(
                customer_id=customer["id"],
                status="open",
                bucket="M1",
                segment="new",
                dpd=10,
                overdue_amount=300_00,
                agent_id=agent,
                opened_on=c.today,
                updated_on=c.today,
            )
            .returning(t.collection_cases.c.id)
        ).scalar_one(),
    )
    return customer["id"], case, agent


def contact(platform: Platform, case: int, agent: int, template: str, outcome: str, at: datetime) -> Any:
    wall(platform).set(at)
    return platform.run(ADMIN, lambda c: contacts.contact(c, case, agent, template, outcome))


def forge(platform: Platform, customer: int, case: int, channel: str, template: str, at: datetime) -> None:
    """A contact written as made behind the policy's back: only the proof can catch it."""
    platform.run(
        ADMIN,
        lambda c: c.conn.execute(
            insert(t.contact_attempts).values(
                customer_id=customer,
                case_id=case,
                agent_id=None,
                channel=channel,
                party="customer",
                purpose="collect",
                template=template,
                discloses_debt=1,
                by_specialist=0,
                at=at,
                decided_at=at,
                business_date=at.astimezone(SHANGHAI).date(),
                allowed=1,
                rule=None,
                reason="forged",
                outcome="sent",
                reached=0,
            )
        ),
    )


def proof(platform: Platform, start: date, end: date) -> dict[str, Any]:
    return platform.run(ADMIN, lambda c: compliance.report(c, start, end))["proof"]


# --- caps by the customer's local day ------------------------------------------------------------


def test_four_calls_on_one_new_york_day_are_capped_though_they_span_two_shanghai_dates(
    platform: Platform,
) -> None:
    first = local(NEW_YORK, 2026, 12, 3, 9)  # 22:00 in Shanghai, business date 2026-12-03
    _, case, agent = desk(platform, NEW_YORK, first)
    for minutes in (0, 5, 10):
        made = contact(platform, case, agent, "collect_call", "no_answer", first + timedelta(minutes=minutes))
        assert made["allowed"], made
    fourth = contact(platform, case, agent, "collect_call", "no_answer", local(NEW_YORK, 2026, 12, 3, 11, 30))
    assert (fourth["allowed"], fourth["rule"]) == (False, "daily_cap")
    days = [r.business_date for r in h.rows(platform, t.contact_attempts)]
    assert days == [date(2026, 12, 3)] * 3 + [date(2026, 12, 4)]  # two Shanghai dates, one New York day
    next_morning = local(NEW_YORK, 2026, 12, 4, 9)
    assert contact(platform, case, agent, "collect_call", "no_answer", next_morning)["allowed"]
    assert proof(platform, date(2026, 12, 3), date(2026, 12, 5))["ok"]


def test_the_proof_counts_the_customers_local_day_too(platform: Platform) -> None:
    first = local(NEW_YORK, 2026, 12, 3, 9)
    customer, case, agent = desk(platform, NEW_YORK, first)
    for minutes in (0, 5, 10):
        contact(platform, case, agent, "collect_call", "no_answer", first + timedelta(minutes=minutes))
    forge(platform, customer, case, "call", "collect_call", local(NEW_YORK, 2026, 12, 3, 11, 30))
    for start in (date(2026, 12, 3), date(2026, 12, 4)):  # the day before the range is read back too
        found = proof(platform, start, date(2026, 12, 4))
        assert not found["ok"]
        assert [v["rule"] for v in found["violations"]] == ["daily_cap"]


# --- no contact timed before the customer's record -----------------------------------------------


def test_a_back_dated_contact_is_refused_and_recorded_as_blocked(platform: Platform) -> None:
    talked = local("Asia/Shanghai", 2026, 12, 3, 10)
    customer, case, agent = desk(platform, "Asia/Shanghai", talked)
    assert contact(platform, case, agent, "collect_call", "reached", talked)["allowed"]
    day_before = talked - timedelta(days=1)
    for template, outcome in (("collect_call", "reached"), ("collect_sms", "sent")):
        refused = contact(platform, case, agent, template, outcome, day_before)
        assert (refused["allowed"], refused["rule"]) == (False, "back_dated"), refused
        assert "back-dated" in refused["reason"] and "2026-12-03 10:00" in refused["reason"]
        assert refused["outcome"] is None  # it did not happen
    wall(platform).set(day_before)
    asked = platform.run(ADMIN, lambda c: contacts.check(c, case, agent, "collect_email"))
    assert asked["rule"] == "back_dated"
    rows = h.rows(platform, t.contact_attempts, t.contact_attempts.c.allowed == 0)
    assert [(r.rule, r.business_date) for r in rows] == [("back_dated", date(2026, 12, 2))] * 2
    report = platform.run(ADMIN, lambda c: compliance.report(c, date(2026, 12, 1), date(2026, 12, 3)))
    assert report["proof"]["ok"] and report["blocked_by_rule"]["back_dated"]["count"] == 2
    assert "1006.100" in report["blocked_by_rule"]["back_dated"]["source"]
    # one written behind the policy's back is found by the proof
    forge(platform, customer, case, "sms", "collect_sms", day_before)
    found = proof(platform, date(2026, 12, 1), date(2026, 12, 3))
    assert [v["rule"] for v in found["violations"]] == ["back_dated"]


def test_a_contact_is_not_timed_before_a_request_to_stop_was_cleared(platform: Platform) -> None:
    """Back-dating into the time a cease-contact request was in force is refused live, as the proof
    (which judges a contact on the flags in force at its moment) would find it a breach."""
    start = local("Asia/Shanghai", 2026, 12, 1, 10)
    customer, case, agent = desk(platform, "Asia/Shanghai", start)
    flag = platform.run(ADMIN, lambda c: contacts.set_flag(c, customer, "cease_contact", "asked by letter"))
    wall(platform).set(start + timedelta(days=2))
    platform.run(ADMIN, lambda c: contacts.clear_flag(c, flag["id"], "withdrawn in writing"))
    back = contact(platform, case, agent, "collect_sms", "sent", start + timedelta(days=1))
    assert (back["allowed"], back["rule"]) == (False, "back_dated")
    later = start + timedelta(days=2, hours=1)
    assert contact(platform, case, agent, "collect_sms", "sent", later)["allowed"]
    assert proof(platform, date(2026, 12, 1), date(2026, 12, 3))["ok"]


# --- a third party who answers is no conversation with the customer -------------------------------


def test_a_reached_locate_call_does_not_hold_back_calls_to_the_customer(platform: Platform) -> None:
    ten = local("Asia/Shanghai", 2026, 12, 3, 10)
    _, case, agent = desk(platform, "Asia/Shanghai", ten)
    assert contact(platform, case, agent, "locate_call", "reached", ten)["allowed"]
    call = contact(platform, case, agent, "collect_call", "reached", ten + timedelta(hours=1))
    assert call["allowed"], call  # the emergency contact answered; the customer has not yet
    after = contact(platform, case, agent, "collect_call", "no_answer", ten + timedelta(hours=2))
    assert (after["allowed"], after["rule"]) == (False, "call_after_conversation")
    everything = h.rows(platform, t.contact_attempts)
    verdicts = platform.run(ADMIN, lambda c: compliance.replayed(c, everything))
    assert [(v.allowed, v.rule) for v in verdicts.values()] == [
        (True, None),
        (True, None),
        (False, "call_after_conversation"),
    ]
    assert proof(platform, date(2026, 12, 3), date(2026, 12, 3))["ok"]


# --- end of day's sends ---------------------------------------------------------------------------


def test_end_of_day_sends_are_not_timed_before_an_agents_contact_that_day(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.skip_refreshes(platform)
    w = World.create(platform)
    order = w.buy(("tea", 100_00, 1))
    due = date.fromisoformat(h.order_view(platform, order)["schedule"][0]["due_date"])
    agent = platform.run(ADMIN, lambda c: cases.create_agent(c, "Ann", "agent", []))["id"]
    platform.clock = Wall(local("Asia/Shanghai", due.year, due.month, due.day, 23) + timedelta(days=13))
    h.run_day(platform)  # 13 days past due: the case opens
    [case] = h.rows(platform, t.collection_cases)
    letter_day = due + timedelta(days=14)  # the book's letter for a thin file, at 10:00
    three_pm = local("Asia/Shanghai", letter_day.year, letter_day.month, letter_day.day, 15)
    assert contact(platform, case.id, agent, "collect_call", "no_answer", three_pm)["allowed"]
    wall(platform).set(three_pm + timedelta(hours=8))  # 23:00: end of day
    h.run_day(platform)
    [letter] = h.rows(platform, t.contact_attempts, t.contact_attempts.c.channel == "letter")
    assert (letter.allowed, letter.business_date) == (1, letter_day)
    assert contacts.aware(letter.at) == three_pm  # not 10:00, before the call on record
    assert proof(platform, due, letter_day)["ok"]


# --- field visits are suggested only where a request would be allowed ----------------------------


@pytest.mark.parametrize("dpd", [45, 61])  # the book's visit steps for a thin file in M2 and M3
def test_the_strategy_suggests_a_field_visit_only_where_the_rule_allows_one(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, dpd: int
) -> None:
    h.skip_refreshes(platform)
    w = World.create(platform, limit=5000_00)

    def shopper(address: str | None) -> int:
        made = platform.run(ADMIN, lambda c: parties.create_customer(c, "Shopper", 5000_00, address=address))
        return int(made["id"])

    small, large, homeless = shopper("Room 1, 8 Test Road"), shopper("Room 2, 8 Test Road"), shopper(None)
    for customer, amount in ((small, 280_00), (large, 600_00), (homeless, 600_00)):
        order = h.buy(w, customer, amount)
    due = date.fromisoformat(h.order_view(platform, order)["schedule"][0]["due_date"])
    h.go_to(platform, due + timedelta(days=dpd))
    h.run_day(platform)
    agent = platform.run(ADMIN, lambda c: cases.create_agent(c, "Ann", "agent", []))["id"]

    def visit_step(customer: int) -> tuple[str, list[str]]:
        a = t.collection_actions.c
        [step] = h.rows(platform, t.collection_actions, a.customer_id == customer, a.action == "field_visit")
        why = h.rows(platform, t.audit_log, t.audit_log.c.stream == f"customer:{customer}")
        skipped = [r.after["problems"] for r in why if r.action == "strategy.step_skipped"]
        return step.status, skipped[0] if skipped else []

    assert visit_step(large) == ("queued", [])
    status, problems = visit_step(small)
    assert status == "skipped" and any("at least 50000 fen overdue" in p for p in problems)
    no_address = "the customer has no registered address: a visit may only go there"
    assert visit_step(homeless) == ("skipped", [no_address])
    # the very reasons a request for a visit is refused with
    small_case = h.rows(platform, t.collection_cases, t.collection_cases.c.customer_id == small)[0].id
    with pytest.raises(InvalidInput) as refused:
        platform.run(ADMIN, lambda c: visits.request_visit(c, small_case, agent, "no payment"))
    assert str(refused.value) == "; ".join(problems)
    queue = platform.run(ADMIN, lambda c: work.queue(c, None))
    suggested = {c["customer_id"] for c in queue if "field_visit" in {task["action"] for task in c["tasks"]}}
    assert suggested == {large}


# --- the property: live decisions and the proof agree ---------------------------------------------

TEMPLATES = [
    "collect_call",
    "locate_call",
    "collect_sms",
    "locate_sms",
    "collect_push",
    "collect_email",
    "legal_notice_letter",
    "reminder_push",
]
FLAG_OPS = [None, None, None, None, "cease_contact", "dispute", "hardship", "clear"]
ZONES = ["Asia/Shanghai", NEW_YORK, "America/Los_Angeles", "Asia/Kolkata", "Asia/Kathmandu"]
steps_st = st.lists(
    st.tuples(
        # minutes the clock moves before a contact: mostly ahead, now and then back (`--date`)
        st.integers(-30 * 60, 2 * 24 * 60),
        st.sampled_from(TEMPLATES),
        st.sampled_from(["reached", "no_answer", "sent"]),
        st.sampled_from(FLAG_OPS),
    ),
    min_size=1,
    max_size=10,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps_st, tz=st.sampled_from(ZONES), start_hour=st.integers(0, 23))
def test_for_any_history_of_contacts_the_live_decisions_and_the_proof_agree(
    platform: Platform, steps: list[tuple[int, str, str, str | None]], tz: str, start_hour: int
) -> None:
    """Agents log contacts on a clock that mostly runs forward and sometimes is set back (an
    operator's ``--date``); flags are set and cleared as requests come in, stamped when they come
    (past every entry on record). The replay of the record gives every attempt, made or blocked, the
    verdict it was given live, and the proof finds nothing.

    Not generated: a contact set back before a flag change. The live check refuses it as
    back-dated (it sees the change on record); the proof cannot tell from the timestamps alone
    whether the change was on record when the contact was judged, so it may name another rule for
    that refused attempt, or none. A contact made is never judged differently."""
    now = datetime(2026, 12, 1, start_hour, tzinfo=UTC)
    customer, case, agent = desk(platform, tz, now)
    latest = floor = now  # the latest moment on record; the latest flag change
    for minutes, template, outcome, flag in steps:
        if flag is not None:
            floor = latest = latest + timedelta(minutes=1)
            wall(platform).set(floor)
            if flag == "clear":
                for f in platform.run(ADMIN, lambda c: contacts.flags_of(c, customer)):
                    if f["in_force"]:
                        platform.run(ADMIN, lambda c, i=f["id"]: contacts.clear_flag(c, i, "cleared"))
            else:
                platform.run(ADMIN, lambda c, k=flag: contacts.set_flag(c, customer, k, "asked"))
        now = max(now + timedelta(minutes=minutes), floor + timedelta(minutes=1))
        contact(platform, case, agent, template, outcome, now)
        latest = max(latest, now)
    ca = t.contact_attempts.c
    recorded = h.rows(platform, t.contact_attempts, ca.customer_id == customer)
    verdicts = platform.run(ADMIN, lambda c: compliance.replayed(c, recorded))
    assert [(bool(r.allowed), r.rule) for r in recorded] == [
        (verdicts[r.id].allowed, verdicts[r.id].rule) for r in recorded
    ]
    days = sorted(r.business_date for r in recorded)
    assert proof(platform, days[0], days[-1])["ok"]


def test_the_proof_reads_only_whats_needed_and_still_agrees(platform: Platform) -> None:
    """A contact made long before a report's range changes nothing in it (the lookback), and the
    range's first contacts are judged on the week before it."""
    first = local("Asia/Shanghai", 2026, 12, 1, 10)
    customer, case, agent = desk(platform, "Asia/Shanghai", first)
    assert contact(platform, case, agent, "collect_call", "reached", first)["allowed"]
    blocked = contact(platform, case, agent, "collect_call", "no_answer", first + timedelta(days=6))
    assert blocked["rule"] == "call_after_conversation"
    forge(platform, customer, case, "call", "collect_call", first + timedelta(days=6, hours=1))
    assert [v["rule"] for v in proof(platform, date(2026, 12, 7), date(2026, 12, 7))["violations"]] == [
        "call_after_conversation"
    ]
    with platform.read(ADMIN) as c:
        rows = c.conn.execute(select(t.contact_attempts).order_by(t.contact_attempts.c.id)).all()
    assert [bool(r.allowed) for r in rows] == [True, False, True]


# --- two agents at once -----------------------------------------------------------------------------


def test_two_agents_calling_at_once_do_not_both_pass_the_daily_cap(
    pg_platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read the record before either writes (a barrier holds them there when nothing else
    does): the customer's contacts must be judged one at a time, or both pass the last call the cap
    leaves and the proof finds the cap broken."""
    ten = local("Asia/Shanghai", 2026, 12, 3, 10)
    _, case, agent = desk(pg_platform, "Asia/Shanghai", ten)
    for minutes in (0, 5):
        at = ten + timedelta(minutes=minutes)
        made = contact(pg_platform, case, agent, "collect_call", "no_answer", at)
        assert made["allowed"]
    wall(pg_platform).set(ten + timedelta(minutes=10))
    barrier, real_load = threading.Barrier(2), contacts.load_facts

    def load_then_wait(*args: Any) -> Any:
        facts = real_load(*args)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=3)  # alone here (the other waits for its turn): go on
        return facts

    monkeypatch.setattr(contacts, "load_facts", load_then_wait)

    def call() -> Any:
        return pg_platform.run(ADMIN, lambda c: contacts.contact(c, case, agent, "collect_call", "no_answer"))

    with ThreadPoolExecutor(2) as pool:
        answers = [f.result() for f in [pool.submit(call), pool.submit(call)]]
    assert sorted((a["allowed"], a["rule"]) for a in answers) == [(False, "daily_cap"), (True, None)]
    assert proof(pg_platform, date(2026, 12, 3), date(2026, 12, 3))["ok"]
