"""End of day's collections step: cases opened, assigned, moved and closed with the ageing;
promises kept or broken; the strategy's reminders and actions, each through the contact policy.
SQLite and PostgreSQL.

Expected steps are read from the packaged strategy book (the data the team edits), and compared
with what end of day recorded day by day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from bnpl.collections import cases, contacts
from bnpl.collections.strategy import load_book
from bnpl.runtime import ADMIN, SYSTEM, Platform
from bnpl.store import tables as t
from tests.collections import helpers as h
from tests.conftest import START
from tests.world import World

TRIAL = 7
DUE = START + timedelta(days=TRIAL)  # a pay-after-trial order bought on START falls due
BOOK = load_book()


def agent(platform: Platform, name: str, role: str, skills: list[str]) -> int:
    return int(platform.run(ADMIN, lambda c: cases.create_agent(c, name, role, skills))["id"])


def case_of(platform: Platform, customer_id: int) -> Any:
    [case] = h.rows(platform, t.collection_cases, t.collection_cases.c.customer_id == customer_id)
    return case


def actions_of(platform: Platform, customer_id: int) -> list[tuple[date, str, str, str, str]]:
    return [
        (a.business_date, a.action, a.channel, a.template, a.status)
        for a in h.rows(platform, t.collection_actions, t.collection_actions.c.customer_id == customer_id)
    ]


def attempts_of(platform: Platform, customer_id: int) -> list[Any]:
    return h.rows(platform, t.contact_attempts, t.contact_attempts.c.customer_id == customer_id)


# --- cases ---------------------------------------------------------------------------------------


@pytest.mark.forward_dates  # skips days to save time
def test_cases_open_with_a_segment_and_go_to_the_least_loaded_skilled_agent(platform: Platform) -> None:
    h.skip_refreshes(platform)
    w = World.create(platform, limit=5000_00)
    m1_only = agent(platform, "Ann", "agent", ["M1"])
    m1_m2 = agent(platform, "Bo", "agent", ["M1", "M2"])
    specialist = agent(platform, "Cai", "specialist", ["M1", "M2", "M3", "M3+"])
    agent(platform, "Dee", "supervisor", ["M1", "M2", "M3", "M3+"])  # supervisors take no cases
    low, high, thin, vulnerable = (h.customer(platform) for _ in range(4))
    for cid in (low, high, thin, vulnerable):
        h.buy(w, cid, 100_00)
    h.set_grade(platform, low, "B")
    h.set_grade(platform, high, "E")
    platform.run(ADMIN, lambda c: contacts.set_flag(c, vulnerable, "hardship", "lost their job"))
    h.go_to(platform, DUE + timedelta(days=1))
    late_comer = h.customer(platform)
    h.buy(w, late_comer, 100_00)  # due a week later

    summary = h.run_day(platform)
    assert summary["steps"]["collections"]["opened"] == 4
    opened = {cid: case_of(platform, cid) for cid in (low, high, thin, vulnerable)}
    assert {cid: c.segment for cid, c in opened.items()} == {
        low: "low",
        high: "high",
        thin: "new",
        vulnerable: "new",
    }
    assert {(c.status, c.bucket, c.dpd, c.overdue_amount, c.opened_on) for c in opened.values()} == {
        ("open", "M1", 1, 100_00, DUE + timedelta(days=1))
    }
    # in customer order: Ann and Bo both free (Ann first), then Bo, then Ann again (a tie: the
    # first agent); the vulnerable customer goes to the specialist
    assert [opened[cid].agent_id for cid in (low, high, thin)] == [m1_only, m1_m2, m1_only]
    assert opened[vulnerable].agent_id == specialist
    # and no automated collection SMS for them: only a specialist may work their debt
    [blocked] = attempts_of(platform, vulnerable)
    assert (blocked.template, blocked.allowed, blocked.rule) == ("collect_sms", 0, "vulnerable_specialist")
    assert {a.allowed for a in attempts_of(platform, thin)} == {1}

    h.go_to(platform, DUE + timedelta(days=TRIAL + 2))  # the late comer is a day past due
    h.run_day(platform)
    assert case_of(platform, late_comer).agent_id == m1_m2  # Bo has one case, Ann two

    # thirty-one days past due: M2. Ann does not work M2, so her cases go to Bo; the others stay
    h.go_to(platform, DUE + timedelta(days=31))
    h.run_day(platform)
    moved = {cid: case_of(platform, cid) for cid in (low, high, thin, vulnerable)}
    assert {c.bucket for c in moved.values()} == {"M2"}
    assert {cid: c.agent_id for cid, c in moved.items()} == {
        low: m1_m2,
        high: m1_m2,
        thin: m1_m2,
        vulnerable: specialist,
    }
    assert case_of(platform, late_comer).bucket == "M1"

    # a vulnerability learned later moves the case to a specialist at the next end of day
    platform.run(ADMIN, lambda c: contacts.set_flag(c, high, "bereavement", "a death in the family"))

    # paid: the case closes as cured the next end of day, and stays closed
    h.pay(platform, low, h.owed(platform, low))
    h.run_days(platform, 2)
    closed = case_of(platform, low)
    assert (closed.status, closed.close_reason, closed.closed_on) == (
        "closed",
        "cured",
        DUE + timedelta(days=32),
    )
    assert (case_of(platform, high).status, case_of(platform, high).agent_id) == ("open", specialist)


def test_a_case_nobody_can_take_waits_in_the_supervisors_queue(platform: Platform) -> None:
    w = World.create(platform)
    agent(platform, "Ann", "agent", ["M2"])
    cid = h.customer(platform)
    h.buy(w, cid, 100_00)
    h.go_to(platform, DUE + timedelta(days=1))
    h.run_day(platform)
    assert case_of(platform, cid).agent_id is None


# --- promises ----------------------------------------------------------------------------------


def promise(platform: Platform, case_id: int, customer_id: int, amount: int, due_on: date) -> int:
    made_on = h.today(platform)
    return int(
        platform.run(
            SYSTEM,
            lambda c: c.conn.execute(
                insert(t.promises)
                .values(
                    case_id=case_id,
                    customer_id=customer_id,
                    amount=amount,
                    made_on=made_on,
                    due_on=due_on,
                    status="open",
                    paid=0,
                )
                .returning(t.promises.c.id)
            ).scalar_one(),
        )
    )


def test_promises_are_kept_by_payments_or_broken_and_escalated(platform: Platform) -> None:
    h.skip_refreshes(platform)
    w = World.create(platform)
    keeper, breaker = h.customer(platform), h.customer(platform)
    h.buy(w, keeper, 300_00)
    h.buy(w, breaker, 300_00)
    h.go_to(platform, DUE + timedelta(days=2))
    h.run_day(platform)
    kept_id = promise(
        platform, case_of(platform, keeper).id, keeper, 100_00, h.today(platform) + timedelta(days=3)
    )
    broken_case = case_of(platform, breaker).id
    broken_id = promise(platform, broken_case, breaker, 100_00, h.today(platform) + timedelta(days=2))

    def state(promise_id: int) -> tuple[str, int, date | None]:
        [p] = h.rows(platform, t.promises, t.promises.c.id == promise_id)
        return p.status, p.paid, p.resolved_on

    platform.clock.advance(1)
    h.pay(platform, keeper, 60_00)
    h.pay(platform, breaker, 30_00)
    h.run_day(platform)
    assert state(kept_id) == ("open", 0, None)  # part paid: not yet kept, not yet due
    platform.clock.advance(1)
    h.pay(platform, keeper, 40_00)
    h.run_day(platform)  # the breaker's promise falls due today: still open
    assert state(kept_id) == ("kept", 100_00, h.today(platform))
    assert state(broken_id) == ("open", 0, None)
    assert [a for a in actions_of(platform, breaker) if a[1] == "escalate"] == []

    h.run_days(platform, 1)  # the day after its date, short of the amount: broken
    assert state(broken_id) == ("broken", 30_00, h.today(platform))
    escalations = [a for a in h.rows(platform, t.collection_actions) if a.action == "escalate"]
    assert [(a.customer_id, a.case_id, a.status, a.business_date) for a in escalations] == [
        (breaker, broken_case, "queued", h.today(platform))
    ]
    h.run_days(platform, 1)
    assert len([a for a in h.rows(platform, t.collection_actions) if a.action == "escalate"]) == 1
    assert state(kept_id)[0] == "kept"


# --- the strategy's sends ----------------------------------------------------------------------


def test_pre_due_reminders_go_three_days_before_the_day_before_and_on_the_day_at_ten_local_time(
    platform: Platform,
) -> None:
    h.skip_refreshes(platform)
    w = World.create(platform)
    # Los Angeles moves to summer time on 8 March 2026: 10:00 there is 18:00 UTC, then 17:00;
    # Kolkata is 5:30 ahead of UTC all year, Shanghai 8 hours
    utc_times = {
        "America/Los_Angeles": [time(18), time(17), time(17)],
        "Asia/Kolkata": [time(4, 30)] * 3,
        "Asia/Shanghai": [time(2)] * 3,
    }
    who = {zone: h.customer(platform, timezone=zone) for zone in utc_times}
    for cid in who.values():
        order_id = h.buy(w, cid, 100_00)
        assert h.order_view(platform, order_id)["schedule"][0]["due_date"] == DUE.isoformat()
    early = h.customer(platform)
    h.pay(platform, early, h.order_view(platform, h.buy(w, early, 100_00))["amount"])
    h.run_days(platform, TRIAL)

    expected = [
        (DUE + timedelta(days=s.day), s.channel, s.template) for s in BOOK.steps_for("pre_due", "new")
    ]
    assert [d for d, _, _ in expected] == [DUE - timedelta(days=3), DUE - timedelta(days=1), DUE]
    for zone, cid in who.items():
        sent = attempts_of(platform, cid)
        assert [(a.business_date, a.channel, a.template) for a in sent] == expected, zone
        assert {(a.allowed, a.outcome, a.rule, a.purpose, a.case_id, a.agent_id) for a in sent} == {
            (1, "sent", None, "reminder", None, None)
        }
        assert actions_of(platform, cid) == [(d, "reminder", c, tpl, "sent") for d, c, tpl in expected]
        for a in sent:  # sends go at 10:00 local: always inside the allowed hours
            local = contacts.aware(a.at).astimezone(ZoneInfo(zone))
            assert local == datetime.combine(a.business_date, time(10), ZoneInfo(zone)), zone
        assert [contacts.aware(a.at).astimezone(UTC).time() for a in sent] == utc_times[zone], zone
    assert attempts_of(platform, early) == []  # paid before it was due: nothing to remind


def test_an_overdue_customer_gets_the_steps_for_their_days_past_due(platform: Platform) -> None:
    h.skip_refreshes(platform)
    w = World.create(platform)
    w.buy(("tea", 100_00, 1))
    h.go_to(platform, DUE)
    h.run_days(platform, 15)
    expected = [
        (
            DUE + timedelta(days=s.day),
            s.action,
            s.channel,
            s.template,
            "queued" if s.channel == "call" else "sent",
        )
        for s in BOOK.steps_for("M1", "new")
        if s.day <= 15
    ]
    assert [e[1] for e in expected] == ["sms", "call", "call", "letter"]  # days 1, 3, 7 and 14
    assert [a for a in actions_of(platform, w.customer_id) if a[1] != "reminder"] == expected
    case = case_of(platform, w.customer_id)
    sent = [a for a in attempts_of(platform, w.customer_id) if a.purpose == "collect"]
    assert [(a.business_date, a.template, a.allowed, a.outcome, a.case_id) for a in sent] == [
        (d, tpl, 1, "sent", case.id) for d, _, ch, tpl, _ in expected if ch != "call"
    ]


def test_cease_contact_blocks_the_automated_collection_messages(platform: Platform) -> None:
    w = World.create(platform)
    w.buy(("tea", 100_00, 1))
    platform.run(ADMIN, lambda c: contacts.set_flag(c, w.customer_id, "cease_contact", "asked in writing"))
    h.go_to(platform, DUE + timedelta(days=1))
    h.run_day(platform)
    [attempt] = attempts_of(platform, w.customer_id)
    assert (attempt.channel, attempt.template, attempt.allowed, attempt.rule, attempt.outcome) == (
        "sms",
        "collect_sms",
        0,
        "cease_contact",
        None,
    )
    [action] = h.rows(platform, t.collection_actions, t.collection_actions.c.customer_id == w.customer_id)
    assert (action.action, action.status, action.attempt_id) == ("sms", "blocked", attempt.id)
    summary_blocked = h.run_day(platform)["steps"]["collections"]["strategy"]
    assert summary_blocked.get("already_done") is True  # the day's sends happen once
