"""Converting a pay-after-trial order to instalments, and paying an order off early (future fees
waived)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select

from bnpl.domain import postings
from bnpl.domain.errors import (
    InvalidAmount,
    InvalidInput,
    InvalidState,
)
from bnpl.domain.orders import (
    OrderStatus,
    transition,
    within_trial,
)
from bnpl.domain.plans import (
    PAY_AFTER_TRIAL,
    build_schedule,
    check_plan_amount,
    get_plan,
)
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.services.ledger import post
from bnpl.services.orders.fulfilment import open_obligations, provisional_trial_end
from bnpl.services.orders.records import customer_stream, lock_order, update_order
from bnpl.services.orders.views import get_order
from bnpl.services.repayments import repay
from bnpl.store.tables import obligations


def convert_plan(ctx: Ctx, order_id: int, plan_code: str) -> dict[str, Any]:
    """During the trial, a pay-after-trial order becomes monthly instalments with the disclosed fee."""
    _, order = lock_order(ctx, order_id, "customer")
    transition(OrderStatus(order["status"]), "convert_plan")
    plan = get_plan(plan_code)
    if order["plan_code"] != PAY_AFTER_TRIAL.code:
        raise InvalidState("only a pay-after-trial order can be converted to instalments")
    if plan.instalments < 2:
        raise InvalidInput("convert to an instalment plan (m3, m6 or m12)")
    if not within_trial(ctx.today, order["trial_ends_on"]):
        raise InvalidState(f"the trial window ended on {order['trial_ends_on']}")
    if order["pending_return_amount"]:
        raise InvalidState("wait until the pending return is resolved")
    old = ctx.conn.execute(
        select(obligations).where(
            obligations.c.order_id == order_id,
            obligations.c.status == "open",
            obligations.c.kind == "instalment",
        )
    ).all()
    unpaid = sum(o.principal - o.principal_paid for o in old)
    if unpaid == 0:
        raise InvalidState("nothing is left to pay on this order")
    check_plan_amount(plan, unpaid)
    trial_end = order["trial_ends_on"] or provisional_trial_end(
        ctx, order["captured_on"], order["trial_days"]
    )
    schedule = build_schedule(plan, unpaid, trial_end)
    next_seq = max(o.seq for o in old)
    # the old obligation keeps what was paid on it and closes; the unpaid rest moves to the new plan
    ctx.conn.execute(
        obligations.update()
        .where(obligations.c.id == bindparam("oid"))
        .values(
            principal=obligations.c.principal_paid,
            status=bindparam("st"),
        ),
        [{"oid": o.id, "st": "converted"} for o in old],
    )
    ids = open_obligations(ctx, order_id, order["customer_id"], schedule, first_seq=next_seq + 1)
    post(
        ctx,
        postings.plan_conversion(
            ctx.today,
            postings.OrderRef(order["customer_id"], order["merchant_id"], order_id),
            [
                postings.ObligationAmounts(o.id, o.principal - o.principal_paid, 0)
                for o in old
                if o.principal > o.principal_paid
            ],
            [postings.ObligationAmounts(i, s.principal, s.fee) for i, s in zip(ids, schedule, strict=True)],
        ),
    )
    update_order(ctx, order_id, plan_code=plan.code, fee_payer="customer")
    audit.record(
        ctx,
        customer_stream(order["customer_id"]),
        "order.plan_converted",
        "order",
        order_id,
        {"plan": order["plan_code"]},
        {"plan": plan.code, "fee": sum(s.fee for s in schedule)},
    )
    return get_order(ctx, order_id)


def payoff_quote(ctx: Ctx, order_id: int) -> dict[str, Any]:
    """Everything left on an order; fees of instalments not yet due are waived on early payoff."""
    ctx.actor.require("customer")  # what a customer owes is not the merchant's to read
    order = get_order(ctx, order_id)
    today = ctx.today.isoformat()
    open_items = [s for s in order["schedule"] if s["status"] == "open"]
    principal = sum(s["principal"] - s["principal_paid"] for s in open_items)
    fees_due = sum(s["fee"] - s["fee_paid"] for s in open_items if s["due_date"] <= today)
    waived = sum(s["fee"] - s["fee_paid"] for s in open_items if s["due_date"] > today)
    return {
        "order_id": order_id,
        "principal": principal,
        "fees": fees_due,
        "fees_waived": waived,
        "amount": principal + fees_due,
        "business_date": today,
    }


def payoff(ctx: Ctx, order_id: int, amount: int) -> dict[str, Any]:
    """Early payoff: waive future fees, then pay everything left on the order (any excess becomes
    credit balance)."""
    _, order = lock_order(ctx, order_id, "customer")
    transition(OrderStatus(order["status"]), "payoff")
    quote = payoff_quote(ctx, order_id)
    if amount < quote["amount"]:
        raise InvalidAmount(f"paying off order {order_id} takes {quote['amount']}, got {amount}")
    future = ctx.conn.execute(
        select(obligations).where(
            obligations.c.order_id == order_id,
            obligations.c.status == "open",
            obligations.c.due_date > ctx.today,
            obligations.c.fee > obligations.c.fee_paid,
        )
    ).all()
    if future:
        waived = [postings.ObligationAmounts(o.id, 0, o.fee - o.fee_paid) for o in future]
        post(
            ctx,
            postings.fee_waiver(ctx.today, order["customer_id"], order_id, waived, "early payoff"),
        )
        ctx.conn.execute(
            obligations.update()
            .where(obligations.c.id == bindparam("oid"))
            .values(fee=obligations.c.fee_paid),
            [{"oid": o.id} for o in future],
        )
    # any excess stays as credit balance (not spent on other orders' future instalments and fees)
    payment = repay(ctx, order["customer_id"], amount, source="payoff", order_id=order_id)
    audit.record(
        ctx,
        customer_stream(order["customer_id"]),
        "order.paid_off",
        "order",
        order_id,
        None,
        {"amount": amount, "fees_waived": quote["fees_waived"]},
    )
    return {"quote": quote, "payment": payment, "order": get_order(ctx, order_id)}
