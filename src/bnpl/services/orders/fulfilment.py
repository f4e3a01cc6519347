"""After checkout: capture on shipment (what is owed and the merchant's share are booked),
delivery (the trial window starts), and cancel or expire (the hold is released)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import bindparam, select, text

from bnpl.domain import postings
from bnpl.domain.errors import (
    InvalidState,
)
from bnpl.domain.orders import (
    OrderStatus,
    transition,
)
from bnpl.domain.plans import (
    Instalment,
    build_schedule,
    due_dates,
    get_plan,
    plan_fee,
)
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.services.credit_lines import change_account, change_accounts
from bnpl.services.ledger import post_many
from bnpl.services.orders.records import (
    NEW_OBLIGATIONS,
    UPDATE_ORDER,
    customer_stream,
    lock_order,
    mdr_of,
    update_order,
)
from bnpl.services.repayments import use_credit_balance
from bnpl.store.bulk import insert_rows
from bnpl.store.direct import Direct
from bnpl.store.tables import obligations


def provisional_trial_end(ctx: Ctx, shipped_on: date, trial_days: int) -> date:
    return shipped_on + timedelta(days=ctx.settings.assumed_delivery_days + trial_days)


def open_obligations(
    ctx: Ctx, order_id: int, customer_id: int, schedule: list[Instalment], first_seq: int = 1
) -> list[int]:
    """Insert one open obligation per instalment; returns their ids in schedule order."""
    rows = _obligation_rows(order_id, customer_id, schedule, first_seq)
    return list(ctx.conn.execute(NEW_OBLIGATIONS, rows).scalars().all())


def _obligation_rows(
    order_id: int, customer_id: int, schedule: list[Instalment], first_seq: int = 1
) -> list[dict[str, Any]]:
    return [
        {
            "order_id": order_id,
            "customer_id": customer_id,
            "seq": first_seq + i,
            "due_date": s.due_date,
            "principal": s.principal,
            "fee": s.fee,
            "principal_paid": 0,
            "fee_paid": 0,
            "status": "open",
        }
        for i, s in enumerate(schedule)
    ]


def capture(ctx: Ctx, order_id: int) -> dict[str, Any]:
    """Shipment: the hold becomes principal receivable per the plan's schedule; the merchant is
    owed the price less MDR (and less the fee, when it subsidises the instalments).

    Many captures in one transaction are ``services.orders.batch.capture_many``."""
    account, order = lock_order(ctx, order_id, "merchant")
    return record_captures(ctx, [plan_capture(ctx, order, account.credit_balance)])[0]


@dataclass(frozen=True)
class Capture:
    """One capture worked out on a locked order, not yet written."""

    order: Any
    status: OrderStatus
    schedule: list[Instalment]
    fee: int
    merchant_fee: int
    mdr: int
    credit_balance: int  # the customer's credit balance, spent on what is now owed


def plan_capture(ctx: Ctx, order: Any, credit_balance: int) -> Capture:
    status = transition(OrderStatus(order["status"]), "capture")
    plan = get_plan(order["plan_code"])
    amount = order["amount"]
    fee = plan_fee(plan, amount)
    customer_fee, merchant_fee = (fee, 0) if order["fee_payer"] == "customer" else (0, fee)
    trial_end = provisional_trial_end(ctx, ctx.today, order["trial_days"])
    schedule = build_schedule(plan, amount, trial_end, fee=customer_fee)
    return Capture(
        order, status, schedule, fee, merchant_fee, mdr_of(amount, order["mdr_bps"]), credit_balance
    )


# PostgreSQL: the captures' orders in one statement over arrays (an executemany runs one per order)
_CAPTURED_COLUMNS = ("b_id", "status", "settle_on", "mdr_amount", "merchant_fee")
_CAPTURE_ORDERS_PG = Direct(
    text(
        "UPDATE orders SET status = t.status, captured_on = :captured_on, settle_on = t.settle_on, "
        "mdr_amount = t.mdr_amount, merchant_fee = t.merchant_fee "
        "FROM unnest(CAST(:b_id AS bigint[]), CAST(:status AS text[]), CAST(:settle_on AS date[]), "
        "CAST(:mdr_amount AS bigint[]), CAST(:merchant_fee AS bigint[])) "
        "AS t(id, status, settle_on, mdr_amount, merchant_fee) WHERE orders.id = t.id"
    )
)


def record_captures(ctx: Ctx, captures: list[Capture]) -> list[dict[str, Any]]:
    """Write the obligations, journal entries, order updates, account changes and audit records of
    worked-out captures (one customer at most once), each kind of row in one statement."""
    if not captures:
        return []
    rows = [
        row for c in captures for row in _obligation_rows(c.order["id"], c.order["customer_id"], c.schedule)
    ]
    new_ids = insert_rows(ctx.conn, obligations, rows, ids=True)
    entries = []
    start = 0
    for c in captures:
        ids = new_ids[start : start + len(c.schedule)]
        start += len(c.schedule)
        o = c.order
        ref = postings.OrderRef(o["customer_id"], o["merchant_id"], o["id"])
        amounts = [
            postings.ObligationAmounts(i, s.principal, s.fee) for i, s in zip(ids, c.schedule, strict=True)
        ]
        entries.append(postings.capture(ctx.today, ref, amounts, c.mdr, c.merchant_fee))
    post_many(ctx, entries)
    updates = [
        {
            "b_id": c.order["id"],
            "status": c.status.value,
            "captured_on": ctx.today,
            "settle_on": ctx.today + timedelta(days=c.order["settlement_delay_days"]),
            "mdr_amount": c.mdr,
            "merchant_fee": c.merchant_fee,
        }
        for c in captures
    ]
    if ctx.conn.dialect.name == "postgresql":
        columns = {name: [u[name] for u in updates] for name in _CAPTURED_COLUMNS}
        _CAPTURE_ORDERS_PG.rows(ctx.conn, columns | {"captured_on": ctx.today})
    else:
        ctx.conn.execute(UPDATE_ORDER, updates)
    change_accounts(
        ctx,
        {
            c.order["customer_id"]: {"holds": -c.order["amount"], "outstanding": c.order["amount"]}
            for c in captures
        },
    )
    for c in captures:
        use_credit_balance(ctx, c.order["customer_id"], c.credit_balance)
    audits = [
        (
            customer_stream(c.order["customer_id"]),
            "order.captured",
            "order",
            c.order["id"],
            {"status": c.order["status"]},
            {"status": c.status.value, "mdr": c.mdr, "fee": c.fee},
        )
        for c in captures
    ]
    audit.record_many(ctx, audits)
    return [
        {"id": c.order["id"], "status": c.status.value, "captured_on": ctx.today.isoformat()}
        for c in captures
    ]


def deliver(ctx: Ctx, order_id: int, on: date | None = None, assumed: bool = False) -> dict[str, Any]:
    """Receipt confirmed (or assumed): the trial window starts and the due dates are fixed."""
    _, order = lock_order(ctx, order_id, "merchant", "customer")
    status = transition(OrderStatus(order["status"]), "deliver")
    delivered_on = on or ctx.today
    trial_end = delivered_on + timedelta(days=order["trial_days"])
    _redate(ctx, order_id, order["plan_code"], trial_end)
    update_order(
        ctx,
        order_id,
        status=status.value,
        delivered_on=delivered_on,
        trial_ends_on=trial_end,
        delivery_assumed=int(assumed),
    )
    audit.record(
        ctx,
        customer_stream(order["customer_id"]),
        "order.delivered",
        "order",
        order_id,
        {"status": order["status"]},
        {"status": status.value, "delivered_on": delivered_on.isoformat(), "assumed": assumed},
    )
    return {
        "id": order_id,
        "status": status.value,
        "delivered_on": delivered_on.isoformat(),
        "trial_ends_on": trial_end.isoformat(),
    }


def _redate(ctx: Ctx, order_id: int, plan_code: str, trial_end: date) -> None:
    # Returns close obligations from the tail and conversion retires the old ones, so the live
    # obligations are the first instalments of the current plan, in seq order.
    live = (
        ctx.conn.execute(
            select(obligations.c.id)
            .where(obligations.c.order_id == order_id, obligations.c.status.not_in(["closed", "converted"]))
            .order_by(obligations.c.seq)
        )
        .scalars()
        .all()
    )
    dates = due_dates(get_plan(plan_code), trial_end)
    ctx.conn.execute(
        obligations.update().where(obligations.c.id == bindparam("oid")).values(due_date=bindparam("d")),
        [{"oid": oid, "d": d} for oid, d in zip(live, dates, strict=False)],
    )


def _release(ctx: Ctx, order_id: int, action: str) -> dict[str, Any]:
    _, order = lock_order(ctx, order_id, "merchant")
    status = transition(OrderStatus(order["status"]), action)
    if action == "expire" and order["expires_on"] >= ctx.today:  # e.g. a review approved meanwhile
        raise InvalidState(f"order {order_id} does not expire until after {order['expires_on']}")
    update_order(ctx, order_id, status=status.value)
    change_account(ctx, order["customer_id"], holds=-order["amount"])
    audit.record(
        ctx,
        customer_stream(order["customer_id"]),
        f"order.{status.value}",
        "order",
        order_id,
        {"status": order["status"]},
        {"status": status.value},
    )
    return {"id": order_id, "status": status.value}


def cancel(ctx: Ctx, order_id: int) -> dict[str, Any]:
    """An uncaptured authorization is cancelled and its hold released."""
    return _release(ctx, order_id, "cancel")


def expire(ctx: Ctx, order_id: int) -> dict[str, Any]:
    return _release(ctx, order_id, "expire")
