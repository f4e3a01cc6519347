"""End of day, collections side: ageing and roll rates, capped late fees, idempotence, a 200-day
book ending in a charge-off and a recovery, the account policy, and the funding accrual.
SQLite and PostgreSQL.

Expected figures are worked out here from the written policy (0.05% a day of what is past due,
floored; the cost cap at the lower of 24% a year simple and 25% of the amount financed; funding at
4.50% a year on receivables, rounded half up), never read back from the code under test.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import func, select

from bnpl.collections import contacts
from bnpl.domain.delinquency import CollectionsPolicy, LateFeePolicy
from bnpl.domain.ledger import Account
from bnpl.runtime import ADMIN, Platform
from bnpl.services import checks, orders, statements
from bnpl.services.boot import open_platform
from bnpl.store import tables as t
from tests.collections import helpers as h
from tests.conftest import START
from tests.world import World

TRIAL = 7  # World's merchant: a pay-after-trial bill is due seven days after delivery
GRACE = 3  # no late fee in the first three days past due
DAILY_BPS = 5  # then 0.05% of what is past due on the instalments, a day
CAP_ANNUAL_BPS = 2_400  # the whole cost of credit: at most 24% a year, simple, since capture...
CAP_SHARE_BPS = 2_500  # ... and at most 25% of the amount financed


def cap(financed: int, days: int, annual_bps: int = CAP_ANNUAL_BPS, share_bps: int = CAP_SHARE_BPS) -> int:
    return min(financed * annual_bps * days // (365 * 10_000), financed * share_bps // 10_000)


def late_fee_rows(platform: Platform, order_id: int) -> list[dict]:
    return [s for s in h.order_view(platform, order_id)["schedule"] if s["kind"] == "late_fee"]


def late_fee_entries(platform: Platform) -> list[tuple[date, int]]:
    """Each late_fees journal entry: its business date and what it put on fee receivable."""
    je, ll = t.journal_entries.c, t.ledger_lines.c
    with platform.read() as c:
        return [
            (r.business_date, int(r.total))
            for r in c.conn.execute(
                select(je.business_date, func.sum(ll.amount).label("total"))
                .join(t.ledger_lines, ll.entry_id == je.id)
                .where(je.kind == "late_fees", ll.account == Account.CUSTOMER_FEE.value)
                .group_by(je.id, je.business_date)
                .order_by(je.id)
            )
        ]


# --- ageing ------------------------------------------------------------------------------------


EDGES = {91: "M3+", 90: "M3", 61: "M3", 60: "M2", 31: "M2", 30: "M1", 1: "M1"}


def test_ageing_at_the_bucket_edges_and_the_days_roll(platform: Platform) -> None:
    day = START + timedelta(days=98)
    w = World.create(platform, limit=5000_00)
    who: dict[int, int] = {}
    # one customer per edge, buying so that the bill is ``dpd`` days past due on ``day``
    for dpd in EDGES:
        h.go_to(platform, day - timedelta(days=dpd + TRIAL))
        who[dpd] = h.customer(platform)
        h.buy(w, who[dpd], 100_00)
    h.go_to(platform, day - timedelta(days=10 + TRIAL))
    curing = h.customer(platform)
    h.buy(w, curing, 50_00)

    h.go_to(platform, day - timedelta(days=1))
    h.run_day(platform)
    yesterday = {r.customer_id: r for r in h.rows(platform, t.account_ageing)}
    assert (yesterday[who[31]].dpd, yesterday[who[31]].bucket) == (30, "M1")
    assert who[1] not in yesterday  # due yesterday: not yet past due
    assert yesterday[curing].dpd == 9

    h.go_to(platform, day)
    h.pay(platform, curing, h.owed(platform, curing))  # cures today
    h.run_day(platform)

    ageing = {
        r.customer_id: r for r in h.rows(platform, t.account_ageing, t.account_ageing.c.business_date == day)
    }
    assert set(ageing) == set(who.values())  # the cured account is current: not listed
    for dpd, bucket in EDGES.items():
        row = ageing[who[dpd]]
        assert (row.dpd, row.bucket) == (dpd, bucket), dpd
        # what is owed at the end of the day on bills due before today: the instalment and, past
        # the grace days, the late fees of yesterday and today (5 fen each) on the order's late-fee
        # bill, which fell due yesterday when it was first charged
        assert row.overdue_amount == (100_00 + 2 * 5 if dpd - 1 > GRACE else 100_00), dpd

    rolls = {
        (r.from_bucket, r.to_bucket): (r.accounts, r.amount)
        for r in h.rows(platform, t.roll_rates, t.roll_rates.c.business_date == day)
    }
    amount = {dpd: ageing[who[dpd]].overdue_amount for dpd in EDGES}
    assert rolls == {
        ("M3", "M3+"): (1, amount[91]),  # 90 -> 91
        ("M3", "M3"): (1, amount[90]),
        ("M2", "M3"): (1, amount[61]),  # 60 -> 61
        ("M2", "M2"): (1, amount[60]),
        ("M1", "M2"): (1, amount[31]),  # 30 -> 31
        ("M1", "M1"): (1, amount[30]),
        ("current", "M1"): (1, amount[1]),  # due yesterday
        ("M1", "current"): (1, 0),  # paid today
    }


def test_a_cure_is_rolled_once_even_when_nobody_is_left_overdue(platform: Platform) -> None:
    """Roll rates compare today with the previous end of day, not with the last day somebody was
    overdue: an account that cured is counted as cured on the day it cured, and only then."""
    w = World.create(platform)
    order_id = w.buy(("tea", 100_00, 1))
    h.go_to(platform, START + timedelta(days=TRIAL + 2))
    h.run_day(platform)  # two days past due: M1
    w.repay(w.order(order_id)["amount"])
    for _ in range(3):
        h.run_days(platform, 1)
    rolls = [(r.business_date, r.from_bucket, r.to_bucket) for r in h.rows(platform, t.roll_rates)]
    assert rolls == [
        (START + timedelta(days=TRIAL + 2), "current", "M1"),
        (START + timedelta(days=TRIAL + 3), "M1", "current"),
    ]


# --- late fees ---------------------------------------------------------------------------------


def test_late_fees_start_after_the_grace_days_and_never_compound(platform: Platform) -> None:
    h.skip_refreshes(platform)
    w = World.create(platform)
    order_id = w.buy(("tea", 456_78, 1))
    due = START + timedelta(days=TRIAL)
    daily_fee = 456_78 * DAILY_BPS // 10_000  # 22.8 fen, floored: 22
    assert daily_fee == 22
    h.go_to(platform, due - timedelta(days=1))
    h.run_days(platform, GRACE + 1)  # the due date and the three days of grace after it
    assert late_fee_rows(platform, order_id) == []
    assert late_fee_entries(platform) == []

    h.run_days(platform, 4)  # days 4-7 past due: the base stays the instalment, not its late fees
    fee_days = [due + timedelta(days=d) for d in range(GRACE + 1, GRACE + 5)]
    assert late_fee_entries(platform) == [(d, daily_fee) for d in fee_days]
    [row] = late_fee_rows(platform, order_id)
    assert (row["fee"], row["fee_paid"], row["principal"], row["status"]) == (4 * daily_fee, 0, 0, "open")
    assert row["due_date"] == fee_days[0].isoformat()  # one late-fee obligation per order

    # every late_fees entry: fee receivable on the order's late-fee obligation, late-fee income
    je, ll = t.journal_entries.c, t.ledger_lines.c
    with platform.read() as c:
        lines = c.conn.execute(
            select(ll.account, ll.amount, ll.customer_id, ll.order_id, ll.obligation_id)
            .join(t.journal_entries, je.id == ll.entry_id)
            .where(je.kind == "late_fees")
            .order_by(ll.id)
        ).all()
    assert [tuple(x) for x in lines] == 4 * [
        (Account.CUSTOMER_FEE.value, daily_fee, w.customer_id, order_id, row["obligation_id"]),
        (Account.LATE_FEE_INCOME.value, -daily_fee, None, order_id, None),
    ]
    assert -h.balance(platform, Account.LATE_FEE_INCOME.value) == 4 * daily_fee

    # a part payment lowers the base: it pays the oldest bill first, the late fees after it
    w.repay(200_00)
    h.run_days(platform, 1)
    smaller = (456_78 - 200_00) * DAILY_BPS // 10_000  # 12.8 fen: 12
    assert late_fee_entries(platform)[-1] == (due + timedelta(days=8), smaller)
    [row] = late_fee_rows(platform, order_id)
    assert row["fee_paid"] == 0 and row["fee"] == 4 * daily_fee + smaller

    # paying everything pays the late fees too, and they stop
    payment = w.repay(h.owed(platform, w.customer_id))
    assert {a["obligation_id"]: a["amount"] for a in payment["allocations"] if a["component"] == "fee"} == {
        row["obligation_id"]: 4 * daily_fee + smaller
    }
    [row] = late_fee_rows(platform, order_id)
    assert (row["fee_paid"], row["status"]) == (row["fee"], "paid")
    h.run_days(platform, 2)
    assert len(late_fee_entries(platform)) == 5
    w.ledger_ok()


@pytest.mark.forward_dates  # skips days to save time
def test_the_cost_cap_stops_late_fees_exactly_at_the_cap(platform: Platform) -> None:
    """At 1% a day the fee outruns 24% a year at once: from then on each day's fee is what is left
    under the cap, and the order's whole cost (instalment fees and late fees) sits on the cap."""
    h.skip_refreshes(platform)
    steep = dataclasses.replace(
        platform.settings, collections=CollectionsPolicy(late_fees=LateFeePolicy(daily_bps=100))
    )
    p = open_platform(steep, clock=platform.clock, engine=platform.engine)
    w = World.create(p, limit=5000_00)
    instalments = w.buy(("tea", 300_00, 1), plan="m3")
    schedule = w.order(instalments)["schedule"]
    instalment_fees = sum(s["fee"] for s in schedule)
    assert instalment_fees == 300_00 * 23 // 1000  # m3: 2.3% of the amount financed
    first_due = date.fromisoformat(schedule[0]["due_date"])

    h.go_to(p, first_due + timedelta(days=GRACE))
    h.run_day(p)
    assert late_fee_rows(p, instalments) == []
    # day 4 past due: 1% of the first instalment is less than the room left under the cap
    h.run_days(p, 1)
    days = (h.today(p) - START).days
    first = (schedule[0]["principal"] + schedule[0]["fee"]) * 100 // 10_000
    assert first < cap(300_00, days) - instalment_fees
    assert late_fee_rows(p, instalments)[0]["fee"] == first
    for _ in range(12):
        h.run_days(p, 1)
        days = (h.today(p) - START).days
        late = late_fee_rows(p, instalments)[0]["fee"]
        assert late + instalment_fees == cap(300_00, days), days  # on the cap, never above
    # and the 25% share: a pay-after-trial order with no instalment fee, capped at 3% for speed
    share = dataclasses.replace(
        steep,
        collections=CollectionsPolicy(late_fees=LateFeePolicy(daily_bps=100, order_share_cap_bps=300)),
    )
    q = open_platform(share, clock=p.clock, engine=p.engine)
    bought_on = h.today(q)
    cid = h.customer(q)
    order_id = h.buy(w, cid, 100_00)
    h.go_to(q, bought_on + timedelta(days=TRIAL + GRACE + 1))
    h.run_day(q)
    assert late_fee_rows(q, order_id)[0]["fee"] == min(100, cap(100_00, TRIAL + GRACE + 1, share_bps=300))
    h.go_to(q, bought_on + timedelta(days=60))  # 24% a year is past 3% by now
    totals = []
    for _ in range(5):
        summary = h.run_day(q)
        totals.append(late_fee_rows(q, order_id)[0]["fee"])
        q.clock.advance(1)
    assert totals == [172, 272, 300, 300, 300]  # 72 on day 11, then 1% (100) a day up to 3% of 100_00
    assert summary["steps"]["late_fees"]["at_cap"] >= 1
    w.ledger_ok()


def test_no_late_fees_while_a_return_is_pending(platform: Platform) -> None:
    h.skip_refreshes(platform)
    w = World.create(platform)
    order_id = w.buy(("kettle", 300_00, 1), ("cable", 10_00, 1))
    return_id = w.return_items(order_id, {"cable": 1})  # the merchant does not answer for weeks
    h.go_to(platform, START + timedelta(days=TRIAL + GRACE + 5))
    h.run_day(platform)
    assert late_fee_rows(platform, order_id) == []
    platform.run(w.merchant, lambda c: orders.reject_return(c, return_id))
    h.run_days(platform, 1)
    assert late_fee_rows(platform, order_id)[0]["fee"] == 310_00 * DAILY_BPS // 10_000
    w.ledger_ok()


def test_no_late_fees_while_a_dispute_is_open(platform: Platform) -> None:
    h.skip_refreshes(platform)
    w = World.create(platform, limit=3000_00)
    disputed = w.buy(("tea", 200_00, 1))
    other = w.buy(("tea", 100_00, 1), deliver=True)
    # a dispute on one order pauses that order; a dispute on everything pauses every order
    on_order = platform.run(
        ADMIN,
        lambda c: contacts.set_flag(c, w.customer_id, "dispute", "says it never arrived", order_id=disputed),
    )
    h.go_to(platform, START + timedelta(days=TRIAL + GRACE + 1))  # the first day of late fees
    h.run_day(platform)
    assert late_fee_rows(platform, disputed) == []
    assert late_fee_rows(platform, other)[0]["fee"] == 100_00 * DAILY_BPS // 10_000
    whole = platform.run(
        ADMIN, lambda c: contacts.set_flag(c, w.customer_id, "dispute", "disputes the account")
    )
    h.run_days(platform, 2)
    assert late_fee_rows(platform, disputed) == []
    assert late_fee_rows(platform, other)[0]["fee"] == 100_00 * DAILY_BPS // 10_000  # paused too
    for flag in (on_order, whole):
        platform.run(ADMIN, lambda c, f=flag: contacts.clear_flag(c, f["id"], "resolved in our favour"))
    h.run_days(platform, 1)
    assert late_fee_rows(platform, disputed)[0]["fee"] == 200_00 * DAILY_BPS // 10_000
    assert late_fee_rows(platform, other)[0]["fee"] == 2 * (100_00 * DAILY_BPS // 10_000)
    w.ledger_ok()


# --- funding -----------------------------------------------------------------------------------


def funding_entries(platform: Platform) -> list[tuple[date, int]]:
    je, ll = t.journal_entries.c, t.ledger_lines.c
    with platform.read() as c:
        return [
            (r.business_date, int(r.amount))
            for r in c.conn.execute(
                select(je.business_date, ll.amount)
                .join(t.ledger_lines, ll.entry_id == je.id)
                .where(je.kind == "funding_accrual", ll.account == Account.FUNDING_COST.value)
                .order_by(je.id)
            )
        ]


@pytest.mark.forward_dates  # skips days to save time
def test_funding_accrues_once_a_day_on_receivables_rounded_half_up(platform: Platform) -> None:
    h.skip_refreshes(platform)
    w = World.create(platform)
    w.buy(("tea", 365_00, 1))  # 36,500 fen x 4.50% / 365 = 4.5 fen: half up is 5
    due = START + timedelta(days=TRIAL)
    expected = []
    # the first day; then days 4-6 past due, when late fees are receivables too
    for day in (START + timedelta(days=1), *(due + timedelta(days=d) for d in (4, 5, 6))):
        h.go_to(platform, day)
        h.run_day(platform)
        h.run_day(platform)  # a second run of the date accrues nothing more
        receivables = h.balance(platform, Account.CUSTOMER_PRINCIPAL.value) + h.balance(
            platform, Account.CUSTOMER_FEE.value
        )
        cost = (Decimal(receivables) * 450 / 365 / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        expected.append((day, int(cost)))
    assert expected[0][1] == 5
    assert expected[-1][1] == 5  # 36,500 + 3 days of 18 fen late fees: 4.56 rounds to 5
    assert funding_entries(platform) == expected
    assert h.balance(platform, Account.FUNDING.value) == -sum(c for _, c in expected)
    w.ledger_ok()


# --- a 200-day book: idempotence, the ledger every day, charge-off and recovery ----------------


def test_two_hundred_days_of_end_of_day(platform: Platform) -> None:
    """Five customers over 200 days. The ledger holds after every day; a day run twice changes
    nothing; the one who never pays is written off at 180 days past due and pays something later."""
    h.skip_refreshes(platform)
    w = World.create(platform, limit=5000_00)
    on_time, late, never, m3_late, m3_on_time = (h.customer(platform) for _ in range(5))
    h.buy(w, on_time, 120_00)
    h.buy(w, late, 150_00)
    never_order = h.buy(w, never, 100_00)
    m3_order = h.buy(w, m3_late, 300_00, plan="m3")
    h.buy(w, m3_on_time, 600_00, plan="m3")
    due = START + timedelta(days=TRIAL)
    m3_schedule = h.order_view(platform, m3_order)["schedule"]
    first_due = date.fromisoformat(m3_schedule[0]["due_date"])
    charge_off_day = due + timedelta(days=180)
    first_instalment = m3_schedule[0]["principal"] + m3_schedule[0]["fee"]
    m3_daily_fee = first_instalment * DAILY_BPS // 10_000
    # written off: 100_00 and 0.05% of it (5 fen) a day from day 4 to day 180 past due
    written_off = 100_00 + 5 * (180 - GRACE)

    def payments_for(day: date) -> None:
        if day == due:
            h.pay(platform, on_time, 120_00)
        if day == due + timedelta(days=10):
            h.pay(platform, late, h.owed(platform, late))  # everything, late fees included
        if day == first_due + timedelta(days=25):
            # the first instalment and its late fees, days 4-24 past due
            h.pay(platform, m3_late, first_instalment + (25 - 1 - GRACE) * m3_daily_fee)
        for s in m3_schedule[1:]:
            if day.isoformat() == s["due_date"]:
                h.pay(platform, m3_late, s["principal"] + s["fee"])
        for o in h.rows(platform, t.obligations, t.obligations.c.customer_id == m3_on_time):
            if o.due_date == day and o.status == "open":
                h.pay(platform, m3_on_time, o.principal + o.fee)

    rerun_on = {due + timedelta(days=d) for d in (1, GRACE + 1, 10, 11, 31)} | {
        charge_off_day,
        charge_off_day + timedelta(days=1),
    }
    for _ in range(200):
        platform.clock.advance(1)
        day = h.today(platform)
        payments_for(day)
        h.run_day(platform)
        if day in rerun_on:
            before = h.book(platform)
            h.run_day(platform)
            h.assert_same_book(h.book(platform), before, f"end of day run twice on {day}")
        with platform.read() as c:
            result = checks.check_ledger(c)
        assert result["ok"], (day, result["problems"])
        if day == due + timedelta(days=1):  # overdue: frozen by end of day
            assert [h.account(platform, c)["state"] for c in (on_time, late, never)] == [
                "active",
                "frozen",
                "frozen",
            ]
        if day == due + timedelta(days=10):  # paid in full today: unfrozen by end of day
            assert h.account(platform, late)["state"] == "active"
        if day == charge_off_day - timedelta(days=1):
            assert h.account(platform, never)["state"] == "frozen"
        if day == charge_off_day:
            assert h.account(platform, never)["state"] == "charged_off"
            assert h.account(platform, never)["outstanding"] == 0
            assert {
                o.status for o in h.rows(platform, t.obligations, t.obligations.c.customer_id == never)
            } == {"charged_off"}
            assert h.balance(platform, Account.CREDIT_LOSS.value, customer_id=never) == written_off
            assert h.balance(platform, Account.CUSTOMER_PRINCIPAL.value, customer_id=never) == 0
            assert h.balance(platform, Account.CUSTOMER_FEE.value, customer_id=never) == 0
            [case] = h.rows(platform, t.collection_cases, t.collection_cases.c.customer_id == never)
            assert (case.status, case.close_reason, case.closed_on) == ("closed", "charged_off", day)
            with platform.read(ADMIN) as c:  # the statement still shows what is owed
                seen = statements.statement(c, never)
            assert (seen["total_owed"], seen["written_off_owed"]) == (0, written_off)
        if day == charge_off_day + timedelta(days=1):  # the day after, it rolls to charged off, not current
            rolled = [
                (r.from_bucket, r.to_bucket, r.accounts)
                for r in h.rows(platform, t.roll_rates, t.roll_rates.c.business_date == day)
            ]
            assert ("M3+", "CO", 1) in rolled and not any(
                to == "current" and f == "M3+" for f, to, _ in rolled
            )
        if day == charge_off_day + timedelta(days=3):
            recovered = h.pay(platform, never, 40_00)
            assert recovered["to_credit_balance"] == 0
            assert {a["component"] for a in recovered["allocations"]} == {"recovery"}
            assert sum(a["amount"] for a in recovered["allocations"]) == 40_00
            assert {a["order_id"] for a in recovered["allocations"]} == {never_order}
            assert -h.balance(platform, Account.RECOVERY_INCOME.value, customer_id=never) == 40_00

    # what each customer paid in late fees, worked out by hand
    late_income = {
        cid: -h.balance(platform, Account.LATE_FEE_INCOME.value, order_id=oid)
        for cid, oid in ((o.customer_id, o.id) for o in h.rows(platform, t.orders))
    }
    assert late_income[on_time] == 0 and late_income[m3_on_time] == 0
    assert late_income[late] == 150_00 * DAILY_BPS // 10_000 * (10 - 1 - GRACE)  # days 4-9 past due
    assert late_income[m3_late] == (25 - 1 - GRACE) * m3_daily_fee
    assert m3_daily_fee == 5  # 10,230 fen past due: 5.1 fen a day
    assert late_income[never] == written_off - 100_00
    for cid in (on_time, late, m3_late, m3_on_time):
        assert h.owed(platform, cid) == 0
        assert h.account(platform, cid)["state"] == "active"
    cases = {c.customer_id: c for c in h.rows(platform, t.collection_cases)}
    assert on_time not in cases and m3_on_time not in cases
    assert (cases[late].status, cases[late].close_reason) == ("closed", "cured")
    assert (cases[m3_late].status, cases[m3_late].close_reason) == ("closed", "cured")
    # the strategy's late stages reached the customer who never paid: agency at 91 days past due,
    # the legal notice by letter at 120
    assert cases[never].agency_on == due + timedelta(days=91)
    letters = h.rows(
        platform,
        t.collection_actions,
        t.collection_actions.c.customer_id == never,
        t.collection_actions.c.channel == "letter",
    )
    assert (letters[-1].business_date, letters[-1].template, letters[-1].status) == (
        due + timedelta(days=120),
        "legal_notice_letter",
        "sent",
    )

    # the rest of what was written off comes in: all of it recovery, and the line stays closed
    rest = written_off - 40_00
    payment = h.pay(platform, never, rest)
    assert payment["to_credit_balance"] == 0
    assert [a["component"] for a in payment["allocations"]] == ["recovery"] * len(payment["allocations"])
    assert -h.balance(platform, Account.RECOVERY_INCOME.value, customer_id=never) == written_off
    h.run_days(platform, 2)
    assert h.account(platform, never)["state"] == "charged_off"  # never reopened by the policy
    refused = w.authorize(("tea", 10_00, 1), customer_id=never)
    assert refused["status"] == "declined"
    w.ledger_ok()
