"""Step ``late_fees``: capped late fees on overdue orders, posted to the ledger, once a date.

It runs first among the collections steps: ageing runs again on a resumed or repeated day and
must see the day's late fees then just as on the first run, or the amounts it ages would differ."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, case, func, select

from bnpl.domain import postings
from bnpl.domain.delinquency import OrderCost, late_fee
from bnpl.eod.steps import Step, Summary
from bnpl.runtime import Ctx
from bnpl.services.ledger import post
from bnpl.services.queries import OWED
from bnpl.store.bulk import insert_rows
from bnpl.store.frames import as_date
from bnpl.store.tables import customer_flags, obligations, orders

obligation = obligations.c


class Charge(NamedTuple):
    order: Any  # the order's row from _overdue_order_costs
    fee: int


def _overdue_order_costs(ctx: Ctx) -> Sequence[Any]:
    """Per overdue order: what is past due on its instalments (late fees never bear late fees),
    the oldest such due date, its whole cost so far, and its late-fee obligation if it has one."""
    past_due = and_(obligation.due_date < ctx.today, obligation.kind == "instalment")
    overdue = (
        select(
            obligation.order_id,
            obligation.customer_id,
            func.min(case((past_due, obligation.due_date))).label("first_due"),
            func.sum(case((past_due, OWED), else_=0)).label("past_due"),
        )
        .where(obligation.status == "open")
        .group_by(obligation.order_id, obligation.customer_id)
        .having(func.sum(case((past_due, OWED), else_=0)) > 0)
        .subquery()
    )
    cost = (
        select(
            obligation.order_id,
            func.sum(obligation.fee).label("cost"),
            func.max(case((obligation.kind == "late_fee", obligation.id))).label("late_fee_id"),
        )
        .where(obligation.order_id.in_(select(overdue.c.order_id)))
        .group_by(obligation.order_id)
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


def charge_late_fees(ctx: Ctx) -> Summary:
    policy = ctx.settings.collections.late_fees
    whole, one_order = _disputes(ctx)
    charges: dict[int, Charge] = {}
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
            charges[r.order_id] = Charge(r, fee)
        elif not cost.paused and cost.dpd > policy.grace_days:
            capped += 1
    new = [c for c in charges.values() if c.order.late_fee_id is None]
    ids: dict[int, int] = {}
    if new:
        inserted = insert_rows(
            ctx.conn,
            obligations,
            [
                {
                    "order_id": c.order.order_id,
                    "customer_id": c.order.customer_id,
                    "seq": 0,
                    "kind": "late_fee",
                    "due_date": ctx.today,
                    "principal": 0,
                    "fee": c.fee,
                    "principal_paid": 0,
                    "fee_paid": 0,
                    "status": "open",
                }
                for c in new
            ],
            ids=True,
        )
        ids = {c.order.order_id: oid for c, oid in zip(new, inserted, strict=True)}
    grown = [
        {"oid": c.order.late_fee_id, "x": c.fee} for c in charges.values() if c.order.late_fee_id is not None
    ]
    if grown:
        ctx.conn.execute(
            obligations.update()
            .where(obligation.id == bindparam("oid"))
            .values(fee=obligation.fee + bindparam("x"), status="open"),  # a paid late-fee row reopens
            grown,
        )
    if charges:
        post(
            ctx,
            postings.late_fees(
                ctx.today,
                [
                    postings.LateFee(
                        c.order.customer_id,
                        c.order.order_id,
                        c.order.late_fee_id or ids[c.order.order_id],
                        c.fee,
                    )
                    for c in charges.values()
                ],
            ),
        )
    return {"orders": len(charges), "amount": sum(c.fee for c in charges.values()), "at_cap": capped}


STEP = Step("late_fees", charge_late_fees, once=True)
