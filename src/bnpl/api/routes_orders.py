"""The order lifecycle over HTTP: authorize, capture, deliver, return, cancel, convert, pay off."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from bnpl.api.deps import ActorDep, Id, IdempotencyKey, OptionalId, PlatformDep, execute, read
from bnpl.api.schemas import (
    AmountIn,
    AuthorizeIn,
    ConvertIn,
    OrderEventOut,
    OrderOut,
    PayoffQuoteOut,
    ReturnIn,
    ReturnOut,
    ReviewIn,
)
from bnpl.domain.errors import Forbidden
from bnpl.domain.orders import Item
from bnpl.services import explain, orders, rule_stats

router = APIRouter(tags=["orders"])


@router.post("/orders", status_code=201, response_model=OrderOut)
def authorize(
    body: AuthorizeIn, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    """Merchant checkout: decide, and on approval hold the amount on the customer's credit line.

    A decline is a normal answer (201 with ``status: declined`` and reasons), not an error."""
    if actor.role != "merchant":
        raise Forbidden("orders are created with a merchant's API key")
    cmd = orders.AuthorizeCommand(
        merchant_id=actor.subject_id or 0,
        customer_id=body.customer_id,
        items=[Item(i.sku, i.category, i.unit_price, i.quantity) for i in body.items],
        plan_code=body.plan,
        channel=body.channel,
        currency=body.currency,
        fee_payer=body.fee_payer,
        stream_id=body.stream_id,
        creator_id=body.creator_id,
        device_id=body.device_id,
        address_hash=body.address_hash,
    )
    return execute(request, platform, actor, key, body, lambda ctx: orders.authorize(ctx, cmd), status=201)


@router.get("/orders", response_model=list[OrderOut])
def list_orders(
    platform: PlatformDep,
    actor: ActorDep,
    limit: int = Query(50, ge=1, le=500),
    customer_id: OptionalId = None,
    merchant_id: OptionalId = None,
) -> Any:
    """Newest first. Merchants see only their orders, customers only theirs."""
    return read(platform, actor, lambda ctx: orders.list_orders(ctx, merchant_id, customer_id, limit))


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: Id, platform: PlatformDep, actor: ActorDep) -> Any:
    return read(platform, actor, lambda ctx: orders.get_order(ctx, order_id))


def _action(name: str, doc: str) -> None:
    service = getattr(orders, name)

    def handler(
        order_id: Id, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
    ) -> JSONResponse:
        return execute(request, platform, actor, key, None, lambda ctx: service(ctx, order_id))

    handler.__doc__ = doc
    router.add_api_route(
        f"/orders/{{order_id}}/{name}",
        handler,
        methods=["POST"],
        name=name,
        summary=doc,
        response_model=OrderEventOut,
    )


_action(
    "capture",
    "Merchant ships: the hold becomes what the customer owes; the merchant is owed the price less MDR.",
)
_action("deliver", "Receipt confirmed: the trial window starts and due dates are fixed.")
_action("cancel", "Cancel an uncaptured authorization and release the hold.")


@router.post("/orders/{order_id}/returns", status_code=201, response_model=ReturnOut)
def request_return(
    order_id: Id,
    body: ReturnIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Within the trial, return all or some items; what is due on them pauses until the merchant
    confirms receipt or rejects the return."""
    items: dict[str, int] = {}
    for item in body.items:
        items[item.sku] = items.get(item.sku, 0) + item.quantity
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: orders.request_return(ctx, order_id, items, body.reason),
        status=201,
    )


@router.get("/returns/{return_id}", response_model=ReturnOut)
def get_return(return_id: Id, platform: PlatformDep, actor: ActorDep) -> Any:
    return read(platform, actor, lambda ctx: orders.get_return(ctx, return_id))


@router.post("/returns/{return_id}/confirm", response_model=ReturnOut)
def confirm_return(
    return_id: Id, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    """Merchant has the goods back: what is owed falls; paid parts go to the credit balance."""
    return execute(request, platform, actor, key, None, lambda ctx: orders.confirm_return(ctx, return_id))


@router.post("/returns/{return_id}/reject", response_model=ReturnOut)
def reject_return(
    return_id: Id, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    """Merchant refuses the return: the paused amounts are due again."""
    return execute(request, platform, actor, key, None, lambda ctx: orders.reject_return(ctx, return_id))


@router.post("/orders/{order_id}/convert", response_model=OrderOut)
def convert(
    order_id: Id,
    body: ConvertIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Customer, during the trial: turn pay-after-trial into monthly instalments (fee disclosed
    at ``GET /plans``)."""
    return execute(
        request, platform, actor, key, body, lambda ctx: orders.convert_plan(ctx, order_id, body.plan)
    )


@router.get("/decisions/{decision_id}", tags=["risk"])
def decision(decision_id: Id, platform: PlatformDep, actor: ActorDep) -> Any:
    """A stored decision: customers see their reasons; staff also see the rules that fired (live and
    shadow), the signals and the versions."""
    return read(platform, actor, lambda ctx: explain.get_decision(ctx, decision_id))


@router.get("/admin/rules/stats", tags=["risk"])
def rules_stats(platform: PlatformDep, actor: ActorDep, since: date | None = None) -> Any:
    """Admin: hits per rule (live and shadow) and the outcomes they met, per rule-set version."""
    return read(platform, actor, lambda ctx: rule_stats.rule_stats(ctx, since))


@router.get("/reviews", response_model=list[OrderOut], tags=["risk"])
def reviews(platform: PlatformDep, actor: ActorDep, limit: int = Query(100, ge=1, le=500)) -> Any:
    """Admin: orders waiting for a manual review, oldest first."""
    return read(platform, actor, lambda ctx: orders.list_reviews(ctx, limit))


@router.post("/orders/{order_id}/review", response_model=OrderOut, tags=["risk"])
def review(
    order_id: Id,
    body: ReviewIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Admin: approve or decline an order a risk rule sent to review."""
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: orders.decide_review(ctx, order_id, body.approve, body.note),
    )


@router.get("/orders/{order_id}/payoff-quote", response_model=PayoffQuoteOut)
def payoff_quote(order_id: Id, platform: PlatformDep, actor: ActorDep) -> Any:
    """Everything left on the order today; fees of instalments not yet due are waived."""
    return read(platform, actor, lambda ctx: orders.payoff_quote(ctx, order_id))


@router.post("/orders/{order_id}/payoff", status_code=201)
def payoff(
    order_id: Id,
    body: AmountIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Early payoff of one order; any excess becomes credit balance."""
    return execute(
        request, platform, actor, key, body, lambda ctx: orders.payoff(ctx, order_id, body.amount), status=201
    )
