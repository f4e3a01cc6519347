"""Returns in the trial window: requested (what is due pauses), rejected, or confirmed (what is
owed falls from the last instalments, fees and MDR with it, paid parts go to the credit balance)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select

from bnpl.domain import postings
from bnpl.domain.allocation import Cut, Line, cut_from_tail
from bnpl.domain.errors import (
    InvalidState,
    NotFound,
)
from bnpl.domain.orders import (
    ItemHolding,
    OrderStatus,
    return_amount,
    transition,
    within_trial,
)
from bnpl.domain.plans import (
    get_plan,
    plan_fee,
)
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.services.credit_lines import change_account
from bnpl.services.ledger import post
from bnpl.services.orders.records import customer_stream, lock_order, mdr_of, update_order
from bnpl.services.orders.views import get_order
from bnpl.services.repayments import use_credit_balance
from bnpl.store.tables import obligations, order_items, returns


def request_return(
    ctx: Ctx, order_id: int, items: dict[str, int], reason: str | None = None
) -> dict[str, Any]:
    """Within the trial: what is due on the items pauses until the merchant confirms or rejects."""
    _, order = lock_order(ctx, order_id, "customer", "merchant")
    transition(OrderStatus(order["status"]), "request_return")
    if not within_trial(ctx.today, order["trial_ends_on"]):
        raise InvalidState(f"the trial window ended on {order['trial_ends_on']}")
    rows = ctx.conn.execute(select(order_items).where(order_items.c.order_id == order_id)).all()
    holdings = [
        ItemHolding(r.sku, r.unit_price, r.quantity, r.returned_quantity, r.pending_quantity) for r in rows
    ]
    amount = return_amount(holdings, items)
    return_id = ctx.conn.execute(
        returns.insert()
        .values(
            order_id=order_id,
            status="requested",
            amount=amount,
            items=items,
            reason=reason,
            requested_on=ctx.today,
        )
        .returning(returns.c.id)
    ).scalar_one()
    _move_item_quantities(ctx, order_id, items, pending=1, returned=0)
    update_order(ctx, order_id, pending_return_amount=order["pending_return_amount"] + amount)
    audit.record(
        ctx,
        customer_stream(order["customer_id"]),
        "return.requested",
        "return",
        return_id,
        None,
        {"order_id": order_id, "items": items, "amount": amount},
    )
    return get_return(ctx, return_id)


def _move_item_quantities(
    ctx: Ctx, order_id: int, items: dict[str, int], pending: int, returned: int
) -> None:
    ctx.conn.execute(
        order_items.update()
        .where(order_items.c.order_id == order_id, order_items.c.sku == bindparam("s"))
        .values(
            pending_quantity=order_items.c.pending_quantity + bindparam("dp"),
            returned_quantity=order_items.c.returned_quantity + bindparam("dr"),
        ),
        [{"s": sku, "dp": pending * qty, "dr": returned * qty} for sku, qty in items.items()],
    )


def get_return(ctx: Ctx, return_id: int) -> dict[str, Any]:
    r = ctx.conn.execute(select(returns).where(returns.c.id == return_id)).first()
    if r is None:
        raise NotFound(f"return {return_id} not found")
    try:
        get_order(ctx, r.order_id)  # visibility check
    except NotFound:
        raise NotFound(f"return {return_id} not found") from None
    return {
        "id": r.id,
        "order_id": r.order_id,
        "status": r.status,
        "amount": r.amount,
        "items": r.items,
        "reason": r.reason,
        "requested_on": r.requested_on.isoformat(),
        "resolved_on": r.resolved_on.isoformat() if r.resolved_on else None,
    }


def _lock_return(ctx: Ctx, return_id: int) -> tuple[Any, Any, Any]:
    order_id = ctx.conn.execute(select(returns.c.order_id).where(returns.c.id == return_id)).scalar()
    if order_id is None:
        raise NotFound(f"return {return_id} not found")
    account, order = lock_order(ctx, order_id, "merchant")
    ret = ctx.conn.execute(select(returns).where(returns.c.id == return_id).with_for_update()).one()
    if ret.status != "requested":
        raise InvalidState(f"return {return_id} is already {ret.status}")
    return account, order, ret


def reject_return(ctx: Ctx, return_id: int) -> dict[str, Any]:
    """The merchant refuses the return: the paused amounts are due again."""
    _, order, ret = _lock_return(ctx, return_id)
    ctx.conn.execute(
        returns.update().where(returns.c.id == return_id).values(status="rejected", resolved_on=ctx.today)
    )
    _move_item_quantities(ctx, order["id"], ret.items, pending=-1, returned=0)
    update_order(ctx, order["id"], pending_return_amount=order["pending_return_amount"] - ret.amount)
    audit.record(
        ctx,
        customer_stream(order["customer_id"]),
        "return.rejected",
        "return",
        return_id,
        {"status": "requested"},
        {"status": "rejected"},
    )
    return get_return(ctx, return_id)


def confirm_return(ctx: Ctx, return_id: int) -> dict[str, Any]:
    """The merchant has the goods back: what is owed falls (last instalments first; paid parts are
    refunded to the credit balance), fees and MDR fall with the price, and the merchant gives
    back its share (clawed back through merchant receivable if it was already settled)."""
    account, order, ret = _lock_return(ctx, return_id)
    order_id, customer_id = order["id"], order["customer_id"]
    plan = get_plan(order["plan_code"])
    live = ctx.conn.execute(
        select(obligations).where(
            obligations.c.order_id == order_id,
            obligations.c.status != "closed",
            obligations.c.kind == "instalment",  # late fees stay what they were (charged before)
        )
    ).all()
    if any(o.status == "charged_off" for o in live):
        # the receivable was written off: cutting it would post against nothing
        raise InvalidState(
            f"order {order_id} was charged off; a return on it is settled by finance, not here"
        )
    principal_cuts = cut_from_tail(
        [Line(o.id, o.seq, o.principal, o.principal_paid) for o in live], ret.amount
    )
    remaining = order["amount"] - order["returned_amount"] - ret.amount
    # The fee was charged on the current plan's principal (after a conversion, only what was
    # unpaid then), so it falls to the plan fee on what is left of that principal. It never rises:
    # after an early-payoff waiver the fee now may already be below it.
    cut_of = {c.obligation_id: c.reduce_due for c in principal_cuts}
    plan_principal = sum(o.principal - cut_of.get(o.id, 0) for o in live if o.status != "converted")
    fee_now = sum(o.fee for o in live)
    merchant_fee_refund = 0
    if order["fee_payer"] == "merchant":
        merchant_fee_refund = max(0, order["merchant_fee"] - plan_fee(plan, remaining))
        fee_cuts: list[Cut] = []
    else:
        fee_cuts = cut_from_tail(
            [Line(o.id, o.seq, o.fee, o.fee_paid) for o in live],
            max(0, fee_now - plan_fee(plan, plan_principal)),
        )
    new_mdr = mdr_of(remaining, order["mdr_bps"])
    entry = postings.confirmed_return(
        ctx.today,
        postings.OrderRef(customer_id, order["merchant_id"], order_id),
        principal_cuts,
        fee_cuts,
        order["mdr_amount"] - new_mdr,
        merchant_fee_refund,
        merchant_settled=order["settled_on"] is not None,
    )
    post(ctx, entry)
    _apply_cuts(ctx, principal_cuts, fee_cuts)
    ctx.conn.execute(
        returns.update().where(returns.c.id == return_id).values(status="confirmed", resolved_on=ctx.today)
    )
    _move_item_quantities(ctx, order_id, ret.items, pending=-1, returned=1)
    status = OrderStatus.RETURNED.value if remaining == 0 else order["status"]
    update_order(
        ctx,
        order_id,
        status=status,
        returned_amount=order["returned_amount"] + ret.amount,
        pending_return_amount=order["pending_return_amount"] - ret.amount,
        mdr_amount=new_mdr,
        merchant_fee=order["merchant_fee"] - merchant_fee_refund,
    )
    refunded = sum(c.refund_paid for c in principal_cuts) + sum(c.refund_paid for c in fee_cuts)
    unpaid_principal_cut = sum(c.reduce_due - c.refund_paid for c in principal_cuts)
    change_account(ctx, customer_id, outstanding=-unpaid_principal_cut, credit_balance=refunded)
    use_credit_balance(ctx, customer_id, account.credit_balance + refunded)
    audit.record(
        ctx,
        customer_stream(customer_id),
        "return.confirmed",
        "return",
        return_id,
        {"status": "requested"},
        {"status": "confirmed", "amount": ret.amount, "refunded_to_credit_balance": refunded},
    )
    return get_return(ctx, return_id)


def _apply_cuts(ctx: Ctx, principal_cuts: list[Cut], fee_cuts: list[Cut]) -> None:
    by_id: dict[int, dict[str, int]] = {}
    for component, cuts in (("p", principal_cuts), ("f", fee_cuts)):
        for c in cuts:
            row = by_id.setdefault(
                c.obligation_id, {"oid": c.obligation_id, "p": 0, "pr": 0, "f": 0, "fr": 0}
            )
            row[component] += c.reduce_due
            row[component + "r"] += c.refund_paid
    if not by_id:
        return
    ctx.conn.execute(
        obligations.update()
        .where(obligations.c.id == bindparam("oid"))
        .values(
            principal=obligations.c.principal - bindparam("p"),
            principal_paid=obligations.c.principal_paid - bindparam("pr"),
            fee=obligations.c.fee - bindparam("f"),
            fee_paid=obligations.c.fee_paid - bindparam("fr"),
        ),
        list(by_id.values()),
    )
    ids = list(by_id)
    o = obligations.c
    ctx.conn.execute(
        obligations.update().where(o.id.in_(ids), o.principal == 0, o.fee == 0).values(status="closed")
    )
    ctx.conn.execute(
        obligations.update()
        .where(o.id.in_(ids), o.status == "open", o.principal_paid == o.principal, o.fee_paid == o.fee)
        .values(status="paid")
    )
