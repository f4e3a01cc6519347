"""Manual review: orders a rule sent to an analyst, listed oldest first, approved or declined."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bnpl.domain.errors import (
    InvalidInput,
    InvalidState,
)
from bnpl.domain.orders import (
    OrderStatus,
    transition,
)
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.services.credit_lines import change_account
from bnpl.services.orders.records import customer_stream, lock_order, update_order
from bnpl.services.orders.views import get_order, list_orders


def list_reviews(ctx: Ctx, limit: int = 100) -> list[dict[str, Any]]:
    """Orders waiting for an analyst, oldest first (they expire if nobody decides)."""
    ctx.actor.require("risk_analyst")
    return list_orders(ctx, status=OrderStatus.REVIEW.value, limit=limit, oldest_first=True)


def decide_review(ctx: Ctx, order_id: int, approve: bool, note: str) -> dict[str, Any]:
    """An analyst approves (the hold stays, the order is authorized) or declines (hold released)."""
    ctx.actor.require("risk_analyst")
    if not note.strip():
        raise InvalidInput("say why: the note is kept in the audit log")
    account, order = lock_order(ctx, order_id)
    status = transition(OrderStatus(order["status"]), "approve_review" if approve else "decline_review")
    if approve and order["expires_on"] < ctx.today:
        raise InvalidState(f"the review window closed on {order['expires_on']}; the order expires")
    if approve and account.state != "active":
        raise InvalidState(f"the customer's credit line is {account.state}; decline instead")
    values: dict[str, Any] = {"status": status.value}
    if approve:  # the normal authorization window starts now
        values["expires_on"] = ctx.today + timedelta(days=ctx.settings.authorization_ttl_days)
    else:
        change_account(ctx, order["customer_id"], holds=-order["amount"])
    update_order(ctx, order_id, **values)
    audit.record(
        ctx,
        customer_stream(order["customer_id"]),
        f"review.{'approved' if approve else 'declined'}",
        "order",
        order_id,
        {"status": order["status"]},
        {"status": status.value, "note": note},
    )
    return get_order(ctx, order_id)
