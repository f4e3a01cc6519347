"""Reading orders: the one public shape of an order, what each role may learn from it, and listing
in a fixed number of queries (not one per order) for the API, the console and the simulator."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Select, select

from bnpl.domain.decision import REASONS
from bnpl.domain.errors import (
    NotFound,
)
from bnpl.runtime import Ctx
from bnpl.services.access import require_order_reader
from bnpl.services.orders.records import can_see
from bnpl.store.tables import decisions, obligations, order_items, orders, returns


def order_view(
    order: Any,
    items: Sequence[Any],
    schedule: Sequence[Any],
    decision: Any,
) -> dict[str, Any]:
    """The one public shape of an order (rows or plain dicts go in)."""

    def iso(d: date | None) -> str | None:
        return d.isoformat() if d else None

    return {
        "id": order["id"],
        "merchant_id": order["merchant_id"],
        "customer_id": order["customer_id"],
        "status": order["status"],
        "currency": order["currency"],
        "amount": order["amount"],
        "returned_amount": order["returned_amount"],
        "pending_return_amount": order["pending_return_amount"],
        "plan": order["plan_code"],
        "fee_payer": order["fee_payer"],
        "channel": order["channel"],
        "stream_id": order["stream_id"],
        "creator_id": order["creator_id"],
        "mdr_amount": order["mdr_amount"],
        "merchant_fee": order["merchant_fee"],
        "authorized_on": iso(order["authorized_on"]),
        "expires_on": iso(order["expires_on"]),
        "captured_on": iso(order["captured_on"]),
        "delivered_on": iso(order["delivered_on"]),
        "trial_ends_on": iso(order["trial_ends_on"]),
        "settle_on": iso(order["settle_on"]),
        "settled_on": iso(order["settled_on"]),
        "items": [
            {
                "sku": i["sku"],
                "category": i["category"],
                "unit_price": i["unit_price"],
                "quantity": i["quantity"],
                "returned_quantity": i["returned_quantity"],
                "pending_quantity": i["pending_quantity"],
            }
            for i in items
        ],
        "schedule": [
            {
                "obligation_id": o["id"],
                "seq": o["seq"],
                "kind": o["kind"],  # instalment, or late_fee (the order's late fees, one row)
                "due_date": o["due_date"].isoformat(),
                "principal": o["principal"],
                "fee": o["fee"],
                "principal_paid": o["principal_paid"],
                "fee_paid": o["fee_paid"],
                "status": o["status"],
            }
            for o in schedule
        ],
        "decision": None
        if decision is None
        else {
            "id": decision["id"],
            "outcome": decision["outcome"],
            "approved_amount": decision["approved_amount"],
            "reasons": decision["reasons"],
            "versions": decision["versions"],
        },
    }


RISK_CHECK = {
    "code": "RISK_CHECK",
    "en": "The order did not pass a risk check.",
    "zh": "订单未通过风险校验。",
}
NOT_AVAILABLE = {
    "code": "NOT_AVAILABLE",
    "en": "Pay later is not available to this customer for this order.",
    "zh": "该顾客本单暂不可使用先用后付。",
}
# What a merchant may learn: its own caps and the basket's. Anything about the customer's credit
# (overdue bills, grade, own ceiling, pause, affordability) is the customer's private matter, and a
# merchant can send an order for any customer id.
_PAYMENT_STATE = frozenset({"principal_paid", "fee_paid", "status"})
MERCHANT_VISIBLE = frozenset(
    {
        "WITHIN_LIMIT",
        "ORDER_CAP",
        "CATEGORY_CAP",
        "NEW_MERCHANT_CAP",
        "MERCHANT_EXPOSURE",
        "PLATFORM_EXPOSURE",
    }
)


def _for_merchant(reason: dict[str, Any]) -> dict[str, Any]:
    if reason["code"] in MERCHANT_VISIBLE:
        return reason
    return NOT_AVAILABLE if reason["code"] in REASONS else RISK_CHECK


def for_actor(ctx: Ctx, view: dict[str, Any]) -> dict[str, Any]:
    """Merchants learn that a risk rule acted, not which one (a merchant in on a cash-out ring must
    not probe the rules), and nothing of the customer's credit. Customers and staff see the real
    reasons."""
    decision = view["decision"]
    if ctx.actor.role != "merchant" or decision is None:
        return view
    reasons = [_for_merchant(r) for r in decision["reasons"]]
    unique = list({r["code"]: r for r in reasons}.values())
    versions = {k: v for k, v in decision["versions"].items() if k == "policy"}
    shown = {**decision, "reasons": unique, "versions": versions}
    if decision["outcome"] == "approve_lower" and any(r["code"] not in MERCHANT_VISIBLE for r in unique):
        # a lower offer set by the customer's own situation would tell its size: a plain no
        shown |= {"outcome": "decline", "approved_amount": 0}
    # whether the customer has paid is theirs: the merchant was settled in full already
    schedule = [{k: v for k, v in i.items() if k not in _PAYMENT_STATE} for i in view.get("schedule", [])]
    return {**view, "decision": shown, "schedule": schedule}


def get_order(ctx: Ctx, order_id: int) -> dict[str, Any]:
    require_order_reader(ctx.actor)
    order = ctx.conn.execute(select(orders).where(orders.c.id == order_id)).mappings().first()
    if order is None or not can_see(ctx, order):
        raise NotFound(f"order {order_id} not found")
    return views_of(ctx, [order])[0]


def views_of(ctx: Ctx, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """The views of many orders (rows the actor may see) in three queries, whatever their number."""
    ids = [row["id"] for row in rows]
    if not ids:
        return []
    items: dict[int, list[Any]] = {i: [] for i in ids}
    for item in ctx.conn.execute(
        select(order_items).where(order_items.c.order_id.in_(ids)).order_by(order_items.c.id)
    ).mappings():
        items[item["order_id"]].append(item)
    schedules: dict[int, list[Any]] = {i: [] for i in ids}
    for o in ctx.conn.execute(
        select(obligations)
        .where(obligations.c.order_id.in_(ids), obligations.c.status != "closed")
        .order_by(obligations.c.order_id, obligations.c.seq)
    ).mappings():
        schedules[o["order_id"]].append(o)
    decision_ids = [row["decision_id"] for row in rows if row["decision_id"] is not None]
    by_id = {
        d["id"]: d
        for d in ctx.conn.execute(select(decisions).where(decisions.c.id.in_(decision_ids))).mappings()
    }
    return [
        for_actor(ctx, order_view(row, items[row["id"]], schedules[row["id"]], by_id.get(row["decision_id"])))
        for row in rows
    ]


def _scoped(ctx: Ctx, query: Select[Any], merchant_id: int | None, customer_id: int | None) -> Select[Any]:
    """``query`` (on ``orders``) narrowed to one merchant's or customer's orders; a merchant or a
    customer is always narrowed to their own, whatever they asked for."""
    if ctx.actor.role == "merchant":
        merchant_id = ctx.actor.subject_id
    if ctx.actor.role == "customer":
        customer_id = ctx.actor.subject_id
    if merchant_id is not None:
        query = query.where(orders.c.merchant_id == merchant_id)
    if customer_id is not None:
        query = query.where(orders.c.customer_id == customer_id)
    return query


def order_rows(
    ctx: Ctx,
    merchant_id: int | None = None,
    customer_id: int | None = None,
    limit: int = 50,
    status: str | None = None,
    oldest_first: bool = False,
) -> list[Any]:
    """The order rows the actor may see, newest first (or oldest), optionally of one status: for a
    list that needs the orders alone (no items, schedule or decision), in one query."""
    require_order_reader(ctx.actor)
    query = select(orders).limit(min(max(limit, 1), 500))
    query = query.order_by(orders.c.id if oldest_first else orders.c.id.desc())
    query = _scoped(ctx, query, merchant_id, customer_id)
    if status is not None:
        query = query.where(orders.c.status == status)
    return [row for row in ctx.conn.execute(query).mappings() if can_see(ctx, row)]


def list_orders(
    ctx: Ctx,
    merchant_id: int | None = None,
    customer_id: int | None = None,
    limit: int = 50,
    status: str | None = None,
    oldest_first: bool = False,
) -> list[dict[str, Any]]:
    """Orders the actor may see, newest first (or oldest), optionally of one status."""
    return views_of(ctx, order_rows(ctx, merchant_id, customer_id, limit, status, oldest_first))


def return_rows(
    ctx: Ctx, merchant_id: int | None = None, customer_id: int | None = None, limit: int = 50
) -> list[Any]:
    """Returns on the orders the actor may see, newest first: each return's row with its order's
    amount (``order_amount``), merchant and customer."""
    require_order_reader(ctx.actor)
    o = orders.c
    query = (
        select(returns, o.amount.label("order_amount"), o.merchant_id, o.customer_id)
        .join(orders, o.id == returns.c.order_id)
        .order_by(returns.c.id.desc())
        .limit(limit)
    )
    query = _scoped(ctx, query, merchant_id, customer_id)
    return [row for row in ctx.conn.execute(query).mappings() if can_see(ctx, row)]
