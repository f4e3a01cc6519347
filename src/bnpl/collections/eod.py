"""End of day for one business date: the order lifecycle, then collections, set-based.

Steps, in order (each reads what the one before it wrote):

- lifecycle   expire stale authorizations, assume overdue deliveries, settle merchants due today
- late_fees   capped late fees on overdue orders, posted to the ledger
- settlements discounted settlements whose money came in: the rest is forgiven
- ageing      days past due and bucket of every delinquent account, and the day's roll rates
- accounts    freeze on overdue, unfreeze on cure, block on repeated overdue
- charge_off  write off accounts at the charge-off DPD
- collections promises kept or broken, cases opened/moved/closed and assigned, the strategy's
              reminders and actions (every contact through the contact policy)
- funding     a day's funding cost on receivables outstanding
- refresh     exposure snapshots, and the merchants' cash-out graph signals (once a date)

Every step is one transaction, and every step either changes nothing when run twice (ageing,
accounts, charge-off, cases: they compare the book with what it should be) or records that it ran
for the date in ``eod_steps`` in the same transaction (late fees, the strategy's sends, funding,
the graph).
So a second run of the same date changes nothing, and a run killed anywhere starts again where it
died and ends with the same ledger as one that was never interrupted.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, insert, select

from bnpl.domain import postings
from bnpl.domain.delinquency import CHARGED_OFF, OrderCost, bucket_for, funding_cost, late_fee
from bnpl.domain.errors import InvalidState
from bnpl.domain.ledger import Account
from bnpl.runtime import SYSTEM, Ctx, Platform
from bnpl.services import audit
from bnpl.services.accounts import apply_account_policy
from bnpl.services.credit_lines import overdue_orders
from bnpl.services.ledger import post
from bnpl.services.queries import OWED
from bnpl.store.bulk import among, chunks, insert_rows
from bnpl.store.frames import as_date
from bnpl.store.tables import (
    account_ageing,
    audit_log,
    credit_accounts,
    customer_flags,
    eod_steps,
    ledger_lines,
    obligations,
    orders,
    roll_rates,
)

CRASH_AT = "BNPL_EOD_CRASH_AT"  # fault injection for the crash-resume test: kill -9 inside a step


def _crash_point(step: str) -> None:
    """Kill this process (SIGKILL: no clean-up, no commit) inside ``step`` when asked to."""
    if os.environ.get(CRASH_AT) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _done(ctx: Ctx, step: str) -> dict[str, Any] | None:
    row = ctx.conn.execute(
        select(eod_steps.c.summary).where(eod_steps.c.business_date == ctx.today, eod_steps.c.step == step)
    ).first()
    return None if row is None else dict(row.summary)


def once(step: str, work: Callable[[Ctx], dict[str, Any]]) -> Callable[[Ctx], dict[str, Any]]:
    """``work`` runs at most once per business date: its marker commits with it."""

    def run(ctx: Ctx) -> dict[str, Any]:
        earlier = _done(ctx, step)
        if earlier is not None:
            return {**earlier, "already_done": True}
        summary = work(ctx)
        _crash_point(step)
        _mark(ctx, step, summary)
        return summary

    return run


def _mark(ctx: Ctx, step: str, summary: dict[str, Any]) -> None:
    ctx.conn.execute(
        insert(eod_steps).values(business_date=ctx.today, step=step, finished_at=ctx.now, summary=summary)
    )


# --- ageing -------------------------------------------------------------------------------------


def delinquent_accounts(ctx: Ctx) -> dict[int, tuple[int, int]]:
    """Every customer with a bill past due today: (days past due, amount past due)."""
    per_order = overdue_orders(one_customer=False)
    rows = ctx.conn.execute(
        select(per_order.c.customer_id, func.min(per_order.c.first_due), func.sum(per_order.c.past_due))
        .group_by(per_order.c.customer_id)
        .order_by(per_order.c.customer_id),
        {"today": ctx.today},
    ).all()
    return {cid: ((ctx.today - as_date(first)).days, int(amount)) for cid, first, amount in rows}


def _previous_ageing(ctx: Ctx) -> tuple[date | None, dict[int, str]]:
    # the previous end of day, not the last day with a delinquent account: after a day when
    # nobody was overdue (no ageing rows), the accounts that cured must not roll to current again
    last = ctx.conn.execute(
        select(func.max(eod_steps.c.business_date)).where(eod_steps.c.business_date < ctx.today)
    ).scalar()
    if last is None:
        return None, {}
    last = as_date(last)
    rows = ctx.conn.execute(
        select(account_ageing.c.customer_id, account_ageing.c.bucket).where(
            account_ageing.c.business_date == last
        )
    ).all()
    return last, dict(rows)


def age(ctx: Ctx) -> dict[str, Any]:
    """Today's ageing (replaced if the day runs again) and the roll from the previous ageing."""
    today = ctx.today
    accounts = delinquent_accounts(ctx)
    # accounts charged off today left the open book after today's first ageing: a second run of
    # the day keeps them as first aged, or it would change the ageing, the rolls and the cases
    a, g = credit_accounts.c, account_ageing.c
    for cid, dpd, amount in ctx.conn.execute(
        select(g.customer_id, g.dpd, g.overdue_amount)
        .join(credit_accounts, a.customer_id == g.customer_id)
        .where(g.business_date == today, a.state == "charged_off")
    ):
        accounts.setdefault(cid, (dpd, amount))
    ctx.conn.execute(delete(account_ageing).where(account_ageing.c.business_date == today))
    ctx.conn.execute(delete(roll_rates).where(roll_rates.c.business_date == today))
    rows = [
        {
            "business_date": today,
            "customer_id": cid,
            "dpd": dpd,
            "bucket": bucket_for(dpd),
            "overdue_amount": amt,
        }
        for cid, (dpd, amt) in accounts.items()
    ]
    if rows:
        insert_rows(ctx.conn, account_ageing, rows)
    _, before = _previous_ageing(ctx)
    gone = sorted(before.keys() - accounts.keys())
    written_off: set[int] = set()
    for chunk in chunks(ctx.conn, gone):
        written_off |= set(
            ctx.conn.execute(
                select(a.customer_id).where(among(ctx.conn, a.customer_id, chunk), a.state == "charged_off")
            ).scalars()
        )
    rolls: dict[tuple[str, str], list[int]] = {}
    for cid in before.keys() | accounts.keys():
        if cid in accounts:
            to = bucket_for(accounts[cid][0])
        else:  # cured, or written off yesterday (not a cure)
            to = CHARGED_OFF if cid in written_off else "current"
        cell = rolls.setdefault((before.get(cid, "current"), to), [0, 0])
        cell[0] += 1
        cell[1] += accounts[cid][1] if cid in accounts else 0
    if rolls:
        ctx.conn.execute(
            insert(roll_rates),
            [
                {"business_date": today, "from_bucket": f, "to_bucket": t, "accounts": n, "amount": amt}
                for (f, t), (n, amt) in sorted(rolls.items())
            ],
        )
    buckets: dict[str, dict[str, int]] = {}
    for row in rows:
        tally = buckets.setdefault(str(row["bucket"]), {"accounts": 0, "amount": 0})
        tally["accounts"] += 1
        tally["amount"] += row["overdue_amount"]  # type: ignore[operator]
    return {"delinquent_accounts": len(rows), "buckets": dict(sorted(buckets.items()))}


# --- late fees ----------------------------------------------------------------------------------

_o = obligations.c


def _overdue_order_costs(ctx: Ctx) -> Sequence[Any]:
    """Per overdue order: what is past due on its instalments (late fees never bear late fees),
    the oldest such due date, its whole cost so far, and its late-fee obligation if it has one."""
    past_due = and_(_o.due_date < ctx.today, _o.kind == "instalment")
    overdue = (
        select(
            _o.order_id,
            _o.customer_id,
            func.min(case((past_due, _o.due_date))).label("first_due"),
            func.sum(case((past_due, OWED), else_=0)).label("past_due"),
        )
        .where(_o.status == "open")
        .group_by(_o.order_id, _o.customer_id)
        .having(func.sum(case((past_due, OWED), else_=0)) > 0)
        .subquery()
    )
    cost = (
        select(
            _o.order_id,
            func.sum(_o.fee).label("cost"),
            func.max(case((_o.kind == "late_fee", _o.id))).label("late_fee_id"),
        )
        .where(_o.order_id.in_(select(overdue.c.order_id)))
        .group_by(_o.order_id)
        .subquery()
    )
    return ctx.conn.execute(
        select(
            overdue,
            cost.c.cost,
            cost.c.late_fee_id,
            orders.c.amount,
            orders.c.returned_amount,
            orders.c.pending_return_amount,
            orders.c.captured_on,
        )
        .join(cost, cost.c.order_id == overdue.c.order_id)
        .join(orders, orders.c.id == overdue.c.order_id)
        .order_by(overdue.c.order_id)
    ).all()


def _disputes(ctx: Ctx) -> tuple[set[int], set[int]]:
    """Open disputes: customers disputing everything, and orders disputed one by one."""
    rows = ctx.conn.execute(
        select(customer_flags.c.customer_id, customer_flags.c.order_id).where(
            customer_flags.c.kind == "dispute", customer_flags.c.closed_at.is_(None)
        )
    ).all()
    return {r.customer_id for r in rows if r.order_id is None}, {r.order_id for r in rows if r.order_id}


def charge_late_fees(ctx: Ctx) -> dict[str, Any]:
    policy = ctx.settings.collections.late_fees
    whole, one_order = _disputes(ctx)
    fees: dict[int, tuple[Any, int]] = {}
    capped = 0
    for r in _overdue_order_costs(ctx):
        cost = OrderCost(
            financed=r.amount - r.returned_amount,
            captured_on=as_date(r.captured_on),
            cost_so_far=int(r.cost),
            past_due=int(r.past_due),
            dpd=(ctx.today - as_date(r.first_due)).days,
            paused=r.pending_return_amount > 0 or r.customer_id in whole or r.order_id in one_order,
        )
        fee = late_fee(cost, ctx.today, policy)
        if fee:
            fees[r.order_id] = (r, fee)
        elif not cost.paused and cost.dpd > policy.grace_days:
            capped += 1
    new = [(r, fee) for r, fee in fees.values() if r.late_fee_id is None]
    ids: dict[int, int] = {}
    if new:
        inserted = insert_rows(
            ctx.conn,
            obligations,
            [
                {
                    "order_id": r.order_id,
                    "customer_id": r.customer_id,
                    "seq": 0,
                    "kind": "late_fee",
                    "due_date": ctx.today,
                    "principal": 0,
                    "fee": fee,
                    "principal_paid": 0,
                    "fee_paid": 0,
                    "status": "open",
                }
                for r, fee in new
            ],
            ids=True,
        )
        ids = {r.order_id: oid for (r, _), oid in zip(new, inserted, strict=True)}
    grown = [{"oid": r.late_fee_id, "x": fee} for r, fee in fees.values() if r.late_fee_id is not None]
    if grown:
        ctx.conn.execute(
            obligations.update()
            .where(_o.id == bindparam("oid"))
            .values(fee=_o.fee + bindparam("x"), status="open"),  # a paid late-fee row reopens
            grown,
        )
    if fees:
        post(
            ctx,
            postings.late_fees(
                ctx.today,
                [
                    postings.LateFee(r.customer_id, r.order_id, r.late_fee_id or ids[r.order_id], fee)
                    for r, fee in fees.values()
                ],
            ),
        )
    return {"orders": len(fees), "amount": sum(f for _, f in fees.values()), "at_cap": capped}


# --- accounts and charge-off --------------------------------------------------------------------


def _ageing_today(ctx: Ctx) -> dict[int, int]:
    return dict(
        ctx.conn.execute(
            select(account_ageing.c.customer_id, account_ageing.c.dpd).where(
                account_ageing.c.business_date == ctx.today
            )
        ).all()
    )


def account_states(ctx: Ctx) -> dict[str, Any]:
    return apply_account_policy(ctx, _ageing_today(ctx))


def charge_off(ctx: Ctx) -> dict[str, Any]:
    """Write off every account at or past the charge-off DPD: its open obligations move to
    credit loss, the line is closed to new credit for good, and later payments are recoveries."""
    limit = ctx.settings.collections.charge_off_dpd
    due = sorted(cid for cid, dpd in _ageing_today(ctx).items() if dpd >= limit)
    write_offs: list[postings.WriteOff] = []
    principal_by_customer: dict[int, int] = {}
    for chunk in chunks(ctx.conn, due):
        for o in ctx.conn.execute(
            select(obligations)
            .where(among(ctx.conn, _o.customer_id, chunk), _o.status == "open")
            .order_by(_o.customer_id, _o.id)
        ):
            p, f = o.principal - o.principal_paid, o.fee - o.fee_paid
            write_offs.append(postings.WriteOff(o.customer_id, o.order_id, o.id, p, f, o.kind))
            principal_by_customer[o.customer_id] = principal_by_customer.get(o.customer_id, 0) + p
    if not write_offs:
        return {"accounts": 0, "amount": 0}
    post(ctx, postings.charge_off(ctx.today, write_offs))
    ids = [w.obligation_id for w in write_offs]
    for chunk in chunks(ctx.conn, ids):
        ctx.conn.execute(
            obligations.update().where(among(ctx.conn, _o.id, chunk)).values(status="charged_off")
        )
    a = credit_accounts.c
    ctx.conn.execute(
        credit_accounts.update()
        .where(a.customer_id == bindparam("cid"))
        .values(
            state="charged_off",
            frozen_by=None,
            outstanding=a.outstanding - bindparam("p"),
            updated_at=ctx.now,
        ),
        [{"cid": cid, "p": p} for cid, p in sorted(principal_by_customer.items())],
    )
    audit.record_many(
        ctx,
        [
            (
                f"customer:{cid}",
                "account.charged_off",
                "credit_account",
                cid,
                None,
                {"principal_written_off": p, "dpd_limit": limit},
            )
            for cid, p in sorted(principal_by_customer.items())
        ],
    )
    return {"accounts": len(principal_by_customer), "amount": sum(w.principal + w.fee for w in write_offs)}


# --- funding ------------------------------------------------------------------------------------


def accrue_funding(ctx: Ctx) -> dict[str, Any]:
    receivables = int(
        ctx.conn.execute(
            select(func.coalesce(func.sum(ledger_lines.c.amount), 0)).where(
                ledger_lines.c.account.in_([Account.CUSTOMER_PRINCIPAL.value, Account.CUSTOMER_FEE.value])
            )
        ).scalar_one()
    )
    cost = funding_cost(max(receivables, 0), ctx.settings.collections.funding_annual_bps)
    if cost:
        post(ctx, postings.funding_accrual(ctx.today, cost))
    return {"receivables": receivables, "cost": cost}


# --- the day ------------------------------------------------------------------------------------


def _check_date(platform: Platform) -> date:
    with platform.read(SYSTEM) as ctx:
        latest = ctx.conn.execute(select(func.max(audit_log.c.business_date))).scalar()
        if latest is not None and as_date(latest) > ctx.today:
            # the day's jobs read "today": run for a past date, they would undo what later days did
            raise InvalidState(
                f"the ledger already has entries dated {latest}; end of day cannot run for {ctx.today}"
            )
        return ctx.today


def run_eod(platform: Platform) -> dict[str, Any]:
    """Run every step of today's end of day; safe to run again, and to resume after a crash."""
    from bnpl.collections import cases
    from bnpl.collections.hardship import complete_settlements
    from bnpl.risk import graph
    from bnpl.services import daily, exposure, portfolio

    today = _check_date(platform)
    lifecycle = daily.run_lifecycle(platform)
    steps: dict[str, Any] = {"lifecycle": lifecycle}
    for name, work in (
        # late fees first: ageing runs again on a resumed or repeated day, and must see the
        # day's late fees then just as on the first run, or the amounts it ages would differ
        ("late_fees", once("late_fees", charge_late_fees)),
        ("settlements", complete_settlements),  # before ageing: a settled account is not overdue
        ("ageing", age),
        ("accounts", account_states),
        ("charge_off", charge_off),
        ("collections", cases.run_collections),
        ("funding", once("funding", accrue_funding)),
        ("snapshot", once("snapshot", portfolio.snapshot)),  # last: the day's figures, all in
    ):
        steps[name] = platform.run(SYSTEM, work)
        _crash_point(f"after:{name}")
    book = exposure.refresh(platform)
    # the cash-out graph is the longest step and reads only the book as of its run: once a date
    # (`bnpl risk graph refresh` recomputes it at any time)
    with platform.read(SYSTEM) as ctx:
        rings = _done(ctx, "graph")
    if rings is None:
        summary = graph.refresh(platform)
        rings = {"flagged": summary["flagged"], "rings": summary.get("rings", 0)}
        platform.run(SYSTEM, lambda ctx: _mark(ctx, "graph", rings))
    steps["graph"] = rings
    return {
        "business_date": today.isoformat(),
        **lifecycle,
        "accounts": steps["accounts"],
        "platform_outstanding": book["platform_outstanding"],
        "merchants_flagged": rings["flagged"],
        "steps": steps,
    }


def catch_up(platform: Platform, until: date) -> list[dict[str, Any]]:
    """Run every business date from the day after the last end of day through ``until``."""
    with platform.read(SYSTEM) as ctx:
        last = ctx.conn.execute(select(func.max(eod_steps.c.business_date))).scalar()
    day = as_date(last) + timedelta(days=1) if last is not None else until
    results = []
    while day <= until:
        results.append(run_eod(platform.on(day)))
        day += timedelta(days=1)
    return results
