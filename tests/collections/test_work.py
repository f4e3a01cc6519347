"""An agent's and a supervisor's work on a case, read like a collections log: contacts through the
policy, field visits from request to outcome, hardship plans and settlements, and the compliance
report that re-checks every contact. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from bnpl.collections import cases, compliance, contacts, hardship, visits, work
from bnpl.domain.errors import Conflict, Forbidden, InvalidInput, InvalidState
from bnpl.domain.field_visits import CONDUCT
from bnpl.domain.ledger import Account
from bnpl.eod import run_eod
from bnpl.runtime import ADMIN, FixedClock, Platform
from bnpl.services import parties
from bnpl.services.ledger import account_balance
from bnpl.store.tables import collection_cases, contact_attempts, obligations
from tests.world import World

ALL_YES = dict.fromkeys(CONDUCT, True)


class OfficeHours(FixedClock):
    """Business days whose "now" is 10:00 in Shanghai (02:00 UTC), or a chosen UTC time."""

    def __init__(self, day: Any) -> None:
        super().__init__(day)
        self.at = time(2)

    def now(self) -> datetime:
        return datetime.combine(self.day, self.at, tzinfo=UTC)


def overdue_case(platform: Platform, days: int, amount: int = 1200_00) -> tuple[World, int, dict[str, Any]]:
    """A customer with a registered address whose pay-after-trial bill is ``days`` past due, and a
    team: an agent (M1–M3+), a supervisor and two field agents."""
    platform.clock = OfficeHours(platform.clock.today())
    w = World.create(platform, limit=5000_00)
    platform.run(
        ADMIN,
        lambda c: parties.set_contact(c, w.customer_id, phone="13800000000", address="Room 1, 8 Test Road"),
    )
    order_id = w.buy(("kettle", amount, 1))
    due = w.order(order_id)["schedule"][0]["due_date"]
    team = {
        role: platform.run(ADMIN, lambda c, r=role: cases.create_agent(c, r.title(), r, []))["id"]
        for role in ("agent", "supervisor")
    }
    team["field"] = [
        platform.run(ADMIN, lambda c, n=n: cases.create_agent(c, n, "field_agent", []))["id"] for n in "AB"
    ]
    platform.clock.day = datetime.fromisoformat(due).date() + timedelta(days=days)
    run_eod(platform)
    case_id = platform.run(ADMIN, lambda c: work.queue(c, team["agent"]))[0]["id"]
    return w, case_id, team


@pytest.mark.forward_dates  # skips days to save time
def test_a_field_visit_from_request_to_outcome(platform: Platform) -> None:
    w, case_id, team = overdue_case(platform, 10)
    agent, sup, (fa, fb) = team["agent"], team["supervisor"], team["field"]
    with pytest.raises(InvalidInput, match="start at bucket M2"):
        platform.run(ADMIN, lambda c: visits.request_visit(c, case_id, agent, "no answer"))

    platform.clock.advance(30)
    run_eod(platform)  # 40 days past due: M2
    v = platform.run(ADMIN, lambda c: visits.request_visit(c, case_id, agent, "no answer for a month"))
    assert v["status"] == "requested"
    local = datetime.combine(platform.clock.today() + timedelta(days=3), time(10))

    with pytest.raises(InvalidInput, match="two different agents"):
        platform.run(ADMIN, lambda c: visits.approve_visit(c, v["id"], sup, fa, fa, local))
    with pytest.raises(InvalidInput, match="not a field agent"):
        platform.run(ADMIN, lambda c: visits.approve_visit(c, v["id"], sup, fa, agent, local))
    with pytest.raises(InvalidInput, match="at least 2 days"):
        platform.run(
            ADMIN, lambda c: visits.approve_visit(c, v["id"], sup, fa, fb, local - timedelta(days=2))
        )
    with pytest.raises(Conflict, match="allowed_hours"):
        platform.run(
            ADMIN, lambda c: visits.approve_visit(c, v["id"], sup, fa, fb, local.replace(hour=21, minute=30))
        )
    approved = platform.run(ADMIN, lambda c: visits.approve_visit(c, v["id"], sup, fa, fb, local))
    assert approved["status"] == "approved" and approved["agents"] == [fa, fb]
    assert (
        approved["notice"]["sent"] and "Room" not in approved["notice"]["text"]
    )  # the address is ours to know
    assert platform.run(ADMIN, lambda c: visits.visits_for(c, fb))[0]["id"] == v["id"]

    platform.clock.advance(3)
    with pytest.raises(Forbidden, match="not assigned"):
        other = platform.run(ADMIN, lambda c: cases.create_agent(c, "C", "field_agent", []))["id"]
        platform.run(ADMIN, lambda c: visits.record_outcome(c, v["id"], other, "met", ALL_YES))
    with pytest.raises(InvalidInput, match="missing"):
        platform.run(ADMIN, lambda c: visits.record_outcome(c, v["id"], fa, "met", {"no_intimidation": True}))
    with pytest.raises(InvalidInput, match="a promise needs"):
        platform.run(ADMIN, lambda c: visits.record_outcome(c, v["id"], fa, "promise", ALL_YES))
    before = _balance(platform, Account.COLLECTION_COST)
    due = platform.clock.today() + timedelta(days=5)
    done = platform.run(
        ADMIN, lambda c: visits.record_outcome(c, v["id"], fa, "promise", ALL_YES, "", 300_00, due)
    )
    assert (done["status"], done["outcome"], done["breaches"]) == ("done", "promise", [])
    assert _balance(platform, Account.COLLECTION_COST) - before == platform.settings.collections.visit_cost
    assert platform.run(ADMIN, lambda c: work.case_view(c, case_id))["promises"][0]["amount"] == 300_00
    with pytest.raises(Exception, match=r"cannot change|on record"):  # the database refuses an edit
        platform.run(ADMIN, lambda c: c.conn.execute(text("UPDATE field_visits SET outcome = 'met'")))
    w.ledger_ok()


def test_the_months_visit_maximum(platform: Platform) -> None:
    _, case_id, team = overdue_case(platform, 45)
    limit = platform.settings.collections.visits_per_case_per_month
    for _ in range(limit):
        platform.run(ADMIN, lambda c: visits.request_visit(c, case_id, team["agent"], "again"))
    with pytest.raises(InvalidInput, match="visits this month"):
        platform.run(ADMIN, lambda c: visits.request_visit(c, case_id, team["agent"], "once more"))


def test_contacts_go_through_the_policy_and_blocks_are_recorded(platform: Platform) -> None:
    w, case_id, team = overdue_case(platform, 5)
    agent = team["agent"]
    first = platform.run(ADMIN, lambda c: contacts.contact(c, case_id, agent, "collect_call", "reached"))
    assert first["allowed"]
    again = platform.run(ADMIN, lambda c: contacts.contact(c, case_id, agent, "collect_call", "reached"))
    assert (again["allowed"], again["rule"]) == (False, "call_after_conversation")
    locate = platform.run(ADMIN, lambda c: contacts.check(c, case_id, agent, "locate_sms"))
    assert locate["allowed"]  # a third party may be asked to pass on a call-back request
    platform.run(ADMIN, lambda c: contacts.set_flag(c, w.customer_id, "cease_contact", "asked in writing"))
    stopped = platform.run(ADMIN, lambda c: contacts.contact(c, case_id, agent, "collect_sms", "sent"))
    assert (stopped["allowed"], stopped["rule"]) == (False, "cease_contact")
    platform.clock.at = time(14)  # type: ignore[attr-defined]  # 22:00 in Shanghai
    late = platform.run(ADMIN, lambda c: contacts.check(c, case_id, agent, "legal_notice_letter"))
    assert late["allowed"]  # a letter the law requires may still go, and letters have no hours
    with pytest.raises(Exception, match="append-only"):
        platform.run(ADMIN, lambda c: c.conn.execute(text("UPDATE contact_attempts SET allowed = 1")))
    note = platform.run(
        ADMIN, lambda c: contacts.annotate(c, "contact", again["id"], "customer asked to call next week")
    )
    assert note["text"].startswith("customer asked")

    report = platform.run(
        ADMIN,
        lambda c: compliance.report(c, platform.clock.today() - timedelta(days=60), platform.clock.today()),
    )
    assert report["proof"]["ok"], report["proof"]
    assert report["proof"]["contacts_rechecked"] == report["contacts_made"] >= 1
    assert report["blocked_by_rule"]["cease_contact"]["count"] == 1
    assert "Regulation F" in report["blocked_by_rule"]["call_after_conversation"]["source"]
    # a contact slipped in at 23:00 local behind the policy's back is caught by the re-check
    platform.run(
        ADMIN,
        lambda c: c.conn.execute(
            contact_attempts.insert().values(
                customer_id=w.customer_id,
                case_id=case_id,
                agent_id=agent,
                channel="sms",
                party="customer",
                purpose="collect",
                template="collect_sms",
                discloses_debt=1,
                by_specialist=0,
                at=datetime.combine(c.today, time(15), tzinfo=UTC),
                decided_at=datetime.combine(c.today, time(15), tzinfo=UTC),
                business_date=c.today,
                allowed=1,
                rule=None,
                reason="forged",
                outcome="sent",
                reached=0,
            )
        ),
    )
    forged = platform.run(ADMIN, lambda c: compliance.report(c, c.today, c.today))
    assert not forged["proof"]["ok"]
    assert [v["rule"] for v in forged["proof"]["violations"]] == ["cease_contact"]


def test_a_hardship_plan_restructures_what_is_owed_and_closes_the_case(platform: Platform) -> None:
    w, case_id, _ = overdue_case(platform, 20)
    owed_before = _owed(platform, w.customer_id)
    late_fees = owed_before - 1200_00
    assert late_fees > 0 and w.account()["state"] == "frozen"
    with pytest.raises(InvalidInput, match="2 to 24"):
        platform.run(ADMIN, lambda c: hardship.propose(c, case_id, "plan", "lost job", 30))
    proposed = platform.run(
        ADMIN, lambda c: hardship.propose(c, case_id, "plan", "lost job", 6, waive_fees=True)
    )
    done = platform.run(ADMIN, lambda c: hardship.decide(c, proposed["id"], True, "verified payslips"))
    assert done["status"] == "done" and done["result"]["fees_waived"] == late_fees
    with platform.read() as c:
        rows = c.conn.execute(select(obligations).where(obligations.c.status == "open")).all()
    assert len(rows) == 6 and sum(r.principal + r.fee for r in rows) == 1200_00  # fees waived
    assert min(r.due_date for r in rows) > platform.clock.today()
    with pytest.raises(InvalidState):
        platform.run(ADMIN, lambda c: hardship.decide(c, proposed["id"], True, "twice"))
    platform.clock.advance(1)
    run_eod(platform)
    assert _case(platform, case_id).close_reason == "plan"
    assert w.account()["state"] == "active"  # nothing is overdue any more
    w.ledger_ok()


def test_a_discounted_settlement_closes_once_the_money_is_in(platform: Platform) -> None:
    w, case_id, _ = overdue_case(platform, 35)
    owed = _owed(platform, w.customer_id)
    with pytest.raises(InvalidInput, match="less than what is owed"):
        platform.run(ADMIN, lambda c: hardship.propose(c, case_id, "settlement", "offer", settle_amount=owed))
    offer = platform.run(
        ADMIN, lambda c: hardship.propose(c, case_id, "settlement", "offer", settle_amount=700_00)
    )
    platform.run(ADMIN, lambda c: hardship.decide(c, offer["id"], True, "approved by policy"))
    loss_before = _balance(platform, Account.CREDIT_LOSS)
    w.repay(700_00)
    platform.clock.advance(1)
    run_eod(platform)
    assert platform.run(ADMIN, lambda c: hardship.get_hardship_plan(c, offer["id"]))["status"] == "done"
    assert _owed(platform, w.customer_id) == 0
    assert _case(platform, case_id).close_reason == "settlement"
    # the 700 paid the oldest amounts first (the waterfall); what was left of the principal is a loss
    assert _balance(platform, Account.CREDIT_LOSS) - loss_before == 1200_00 - 700_00
    w.ledger_ok()


def _owed(platform: Platform, customer_id: int) -> int:
    with platform.read() as c:
        o = obligations.c
        return sum(
            r.principal + r.fee - r.principal_paid - r.fee_paid
            for r in c.conn.execute(
                select(obligations).where(o.customer_id == customer_id, o.status == "open")
            )
        )


def _case(platform: Platform, case_id: int) -> Any:
    with platform.read() as c:
        return c.conn.execute(select(collection_cases).where(collection_cases.c.id == case_id)).one()


def _balance(platform: Platform, account: Account) -> int:
    with platform.read() as c:
        return account_balance(c, account)


@pytest.mark.forward_dates  # skips days to save time
def test_a_bounced_payment_keeps_no_promise_and_settles_nothing(platform: Platform) -> None:
    from bnpl.services import repayments

    w, case_id, team = overdue_case(platform, 35)
    due = platform.clock.today() + timedelta(days=3)
    platform.run(ADMIN, lambda c: work.promise(c, case_id, 300_00, due, team["agent"]))
    offer = platform.run(
        ADMIN, lambda c: hardship.propose(c, case_id, "settlement", "offer", settle_amount=600_00)
    )
    platform.run(ADMIN, lambda c: hardship.decide(c, offer["id"], True, "approved"))
    paid = w.repay(600_00)
    platform.run(ADMIN, lambda c: repayments.reverse_payment(c, paid["id"], "card chargeback"))
    platform.clock.advance(4)
    run_eod(platform)
    assert platform.run(ADMIN, lambda c: hardship.get_hardship_plan(c, offer["id"]))["status"] == "approved"
    assert [p["status"] for p in platform.run(ADMIN, lambda c: work.case_view(c, case_id))["promises"]] == [
        "broken"
    ]
    assert _case(platform, case_id).status == "open"
    w.ledger_ok()
