"""The order lifecycle over HTTP: authorize, capture, deliver, return, cancel, convert, pay off."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from bnpl.api.decision_processes import OutcomeUnknown
from bnpl.api.deps import ActorDep, Id, IdempotencyKey, OptionalId, PlatformDep, execute, read
from bnpl.api.group_commit import GroupCommit, Overloaded, refusal, shed_response
from bnpl.api.problems import problem
from bnpl.api.schemas import (
    AmountIn,
    AuthorizeIn,
    BatchIn,
    BatchOut,
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
from bnpl.runtime import Actor
from bnpl.services import explain, idempotency, orders, rule_stats

router = APIRouter(tags=["orders"])


def authorize_command(actor_id: int, body: AuthorizeIn) -> orders.AuthorizeCommand:
    return orders.AuthorizeCommand(
        merchant_id=actor_id,
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


def _answer(answer: orders.Answer) -> Response:
    # orjson: serialising the order is a visible part of a checkout's time on the event loop
    return Response(
        orjson.dumps(answer.body, option=orjson.OPT_NON_STR_KEYS),
        status_code=answer.status_code,
        media_type="application/problem+json" if answer.status_code >= 400 else "application/json",
        headers={"Idempotent-Replayed": str(answer.replayed).lower()},
    )


async def grouped(request: Request, actor: Actor, key: str, body: Any, command: Any) -> Response | None:
    """The request through the process's group commit (None: group commit is off)."""
    group: GroupCommit | None = request.app.state.group_commit
    if group is None:
        return None
    keyed = orders.Keyed(key, idempotency.request_hash(request.method, request.url.path, body), command)
    try:
        return _answer(await group.submit(actor, keyed))
    except Overloaded:
        return shed_response()
    except OutcomeUnknown as exc:  # not "nothing was changed": the batch may have committed
        return problem(500, "outcome-unknown", str(exc))


@router.post("/orders", status_code=201, response_model=OrderOut)
async def authorize(
    body: AuthorizeIn, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> Response:
    """Merchant checkout: decide, and on approval hold the amount on the customer's credit line.

    A decline is a normal answer (201 with ``status: declined`` and reasons), not an error.
    Concurrent checkouts are decided together in one transaction (group commit); under overload
    the answer is an immediate 503 with ``Retry-After``, and nothing was done."""
    if actor.role != "merchant":
        raise Forbidden("orders are created with a merchant's API key")
    cmd = authorize_command(actor.subject_id or 0, body)
    answered = await grouped(request, actor, key, body.model_dump(mode="json"), cmd)
    if answered is not None:
        return answered
    return await run_in_threadpool(
        execute, request, platform, actor, key, body, lambda ctx: orders.authorize(ctx, cmd), 201
    )


@router.post("/orders/batch", response_model=BatchOut)
def authorize_batch(body: BatchIn, request: Request, platform: PlatformDep, actor: ActorDep) -> Any:
    """A merchant's queue of checkouts (a live stream's), decided in one transaction. Each checkout
    carries its own ``idempotency_key`` and gets its own answer — the one a single ``POST /orders``
    of it would get (201 and the order, or a 4xx problem), replayed for a key seen before. One
    refused checkout never fails the others. At most 200 checkouts per batch."""
    if actor.role != "merchant":
        raise Forbidden("orders are created with a merchant's API key")
    requests = []
    for item in body.orders:
        order = AuthorizeIn.model_validate(item.model_dump(exclude={"idempotency_key"}))
        fingerprint = idempotency.request_hash("POST", "/orders", order.model_dump(mode="json"))
        requests.append(
            orders.Keyed(item.idempotency_key, fingerprint, authorize_command(actor.subject_id or 0, order))
        )
    answers = platform.run(
        actor,
        lambda ctx: orders.run_keyed(ctx, str(actor), requests, orders.authorize_many, 201, refusal),
    )
    return {
        "results": [
            {"idempotency_key": r.key, "status": a.status_code, "replayed": a.replayed, "body": a.body}
            for r, a in zip(requests, answers, strict=True)
        ]
    }


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


@router.post("/orders/{order_id}/capture", response_model=OrderEventOut)
async def capture(
    order_id: Id, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> Response:
    """Merchant ships: the hold becomes what the customer owes; the merchant is owed the price less MDR."""
    answered = await grouped(request, actor, key, None, order_id)
    if answered is not None:
        return answered
    return await run_in_threadpool(
        execute, request, platform, actor, key, None, lambda ctx: orders.capture(ctx, order_id)
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
