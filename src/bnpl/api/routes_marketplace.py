"""The host marketplace's data feed (signed, batched) and the shopper's consent to its use."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import Field, StrictBool, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool

from bnpl.api.deps import ActorDep, Id, IdempotencyKey, PlatformDep, execute, read
from bnpl.api.problems import ApiError, problem
from bnpl.api.schemas import Strict
from bnpl.api.types import MAX_ID, Fen
from bnpl.domain.marketplace import (
    MAX_ADDRESSES,
    MAX_BATCH,
    MAX_PAYMENT_METHODS,
    MINUTES_IN_WEEK,
    ConsentPurpose,
    Outcome,
    PaymentKind,
    PhoneTenure,
    RecordType,
)
from bnpl.domain.orders import Channel
from bnpl.runtime import Actor
from bnpl.services import marketplace

router = APIRouter()

EventId = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]{1,64}$")]
CustomerId = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
Moment = Annotated[
    StrictStr, Field(max_length=40, description="ISO 8601 with a time zone, not in the future")
]


# The records as documented; the service checks them (services/marketplace.py, domain/marketplace.py)
# so that the API and `bnpl marketplace import` refuse the same things for the same reasons.
class ProfileRecord(Strict):
    type: Literal["profile"]
    event_id: EventId
    customer_id: CustomerId
    observed_at: Moment
    account_opened_at: Moment
    real_name_verified: StrictBool
    phone_tenure_band: PhoneTenure
    payment_methods: Annotated[StrictInt, Field(ge=0, le=MAX_PAYMENT_METHODS)]
    addresses_12m: Annotated[StrictInt, Field(ge=0, le=MAX_ADDRESSES)]


class OrderRecord(Strict):
    type: Literal["order"]
    event_id: EventId
    customer_id: CustomerId
    occurred_at: Moment
    category: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    channel: Channel
    amount: Fen
    payment_kind: PaymentKind
    outcome: Outcome


class EngagementRecord(Strict):
    type: Literal["engagement"]
    event_id: EventId
    customer_id: CustomerId
    week_start: Annotated[StrictStr, Field(description="YYYY-MM-DD; the week must have ended")]
    live_watch_minutes: Annotated[StrictInt, Field(ge=0, le=MINUTES_IN_WEEK)]


class FeedBatchIn(Strict):
    records: Annotated[
        list[Annotated[ProfileRecord | OrderRecord | EngagementRecord, Field(discriminator="type")]],
        Field(min_length=1, max_length=MAX_BATCH),
    ]


class ConsentIn(Strict):
    purpose: ConsentPurpose
    scope: Annotated[list[RecordType], Field(min_length=1, max_length=len(RecordType))]
    notice_version: Annotated[StrictStr, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._\-]+$")]


def _inlined(schema: Any, defs: dict[str, Any] | None = None) -> Any:
    """``schema`` with its local ``#/$defs/…`` references written out: the request body of a raw
    route is not among the OpenAPI components, so its references would point nowhere."""
    if defs is None:
        defs = schema.pop("$defs", {}) if isinstance(schema, dict) else {}
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inlined(dict(defs[ref.rsplit("/", 1)[1]]), defs)
        if isinstance(schema.get("discriminator"), dict):  # its mapping names $defs too
            schema = {**schema, "discriminator": {"propertyName": schema["discriminator"]["propertyName"]}}
        return {k: _inlined(v, defs) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inlined(v, defs) for v in schema]
    return schema


@router.post(
    "/marketplace/events",
    tags=["marketplace"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inlined(FeedBatchIn.model_json_schema())}},
        }
    },
)
async def marketplace_events(
    request: Request,
    platform: PlatformDep,
    signature: Annotated[str | None, Header(alias="X-Bnpl-Signature")] = None,
) -> JSONResponse:
    """The host marketplace's feed: up to 5,000 profile, order and engagement records, signed with
    HMAC-SHA256 of the raw body (``X-Bnpl-Signature: sha256=<hex>``, key
    ``BNPL_MARKETPLACE_FEED_SECRET``). All or nothing: a refused record (422, each with its
    ``record`` index and reason; ``no consent`` for a shopper who has not consented to that type)
    refuses the batch. A resent event id with the same content counts as ``duplicate``; with other
    content, 409."""
    raw = await request.body()
    secret = platform.settings.marketplace_feed_secret.encode()
    expected = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(signature.encode(), expected.encode()):
        raise ApiError(401, "bad-signature", "the X-Bnpl-Signature header does not match the body")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return problem(400, "malformed-json", "the request body is not valid JSON")
    records = marketplace.parse_batch(body)
    summary = await run_in_threadpool(
        lambda: platform.run(Actor("marketplace"), lambda ctx: marketplace.ingest(ctx, records))
    )
    return JSONResponse(summary)


@router.post("/customers/{customer_id}/marketplace-consent", status_code=201, tags=["marketplace"])
def grant_consent(
    customer_id: Id,
    body: ConsentIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """The customer (or admin on their behalf) consents to the use of their marketplace data: for
    which purpose, which record types, under which version of the notice shown to them."""
    scope, purpose = [s.value for s in body.scope], body.purpose.value
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: marketplace.grant_consent(ctx, customer_id, purpose, scope, body.notice_version),
        status=201,
    )


def _withdraw(platform: PlatformDep, actor: ActorDep, customer_id: int) -> Any:
    return platform.run(actor, lambda ctx: marketplace.withdraw_consent(ctx, customer_id))


@router.delete("/customers/{customer_id}/marketplace-consent", tags=["marketplace"])
def withdraw_consent(customer_id: Id, platform: PlatformDep, actor: ActorDep) -> Any:
    """Withdraw consent: from now on nothing of the feed is used or accepted. Withdrawing again
    changes nothing (``changed: false``)."""
    return _withdraw(platform, actor, customer_id)


@router.post("/customers/{customer_id}/marketplace-consent/withdraw", tags=["marketplace"])
def withdraw_consent_post(customer_id: Id, platform: PlatformDep, actor: ActorDep) -> Any:
    """The same as ``DELETE …/marketplace-consent``, for clients that cannot send DELETE. Naturally
    idempotent, so no Idempotency-Key is needed."""
    return _withdraw(platform, actor, customer_id)


@router.get("/customers/{customer_id}/marketplace-consent", tags=["marketplace"])
def consent_history(customer_id: Id, platform: PlatformDep, actor: ActorDep) -> Any:
    """The consent in effect now and every consent event, oldest first."""
    return read(platform, actor, lambda ctx: marketplace.consent_status(ctx, customer_id, history=True))
