"""Plans, the payment-provider callback, and operator endpoints (end of day, ledger, audit)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from bnpl import eod
from bnpl.api.deps import ActorDep, Id, IdempotencyKey, PlatformDep, execute, read
from bnpl.api.problems import ApiError, problem
from bnpl.api.schemas import PaymentCallbackIn, ReverseIn
from bnpl.domain.plans import PLANS, build_schedule, plan_fee
from bnpl.domain.plans import apr as plan_apr
from bnpl.runtime import Actor
from bnpl.services import audit, checks, idempotency, repayments

router = APIRouter()


@router.get("/health", tags=["ops"])
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/plans", tags=["plans"])
def plans(
    platform: PlatformDep,
    amount: int = Query(100_00, gt=0, le=10**10, description="fen"),
    trial_days: int = Query(7, ge=0, le=30),
) -> list[dict[str, Any]]:
    """Plans on offer, with the fee and APR disclosed for ``amount`` fen delivered today."""
    today = platform.clock.today()
    out = []
    for plan in PLANS.values():
        schedule = build_schedule(plan, amount, today + timedelta(days=trial_days))
        out.append(
            {
                "code": plan.code,
                "name_en": plan.name_en,
                "name_zh": plan.name_zh,
                "instalments": plan.instalments,
                "fee_rate": str(plan.fee_rate),
                "fee": plan_fee(plan, amount),
                "apr": str(plan_apr(amount, schedule, today)),
                "example": [{"due_in_days": (s.due_date - today).days, "amount": s.total} for s in schedule],
            }
        )
    return out


@router.post(
    "/payments/callback",
    tags=["repayments"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PaymentCallbackIn.model_json_schema()}},
        }
    },
)
async def payment_callback(
    request: Request,
    platform: PlatformDep,
    signature: Annotated[str | None, Header(alias="X-Bnpl-Signature")] = None,
) -> JSONResponse:
    """Payment provider's notice of a customer payment, signed with HMAC-SHA256 of the raw body
    (``X-Bnpl-Signature: sha256=<hex>``). The provider's payment id makes a resend count once."""
    raw = await request.body()
    expected = (
        "sha256=" + hmac.new(platform.settings.webhook_secret.encode(), raw, hashlib.sha256).hexdigest()
    )
    if not signature or not hmac.compare_digest(signature.encode(), expected.encode()):
        raise ApiError(401, "bad-signature", "the X-Bnpl-Signature header does not match the body")
    try:
        body = PaymentCallbackIn.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            return problem(400, "malformed-json", "the request body is not valid JSON")
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return problem(422, "validation-error", f"{where}: {first['msg']}")
    if body.status != "succeeded":
        return JSONResponse({"accepted": True, "applied": False})
    provider = Actor("provider")
    result = await run_in_threadpool(
        lambda: platform.run(
            provider,
            lambda ctx: repayments.repay(
                ctx, body.customer_id, body.amount, body.currency, body.payment_id, "callback"
            ),
        )
    )
    return JSONResponse({"accepted": True, "applied": True, "payment": result})


@router.post("/admin/payments/{payment_id}/reverse", tags=["repayments"])
def reverse_payment(
    payment_id: Id,
    body: ReverseIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Admin: a payment bounced or was charged back. A reversing entry undoes it (nothing is
    edited) and what it paid is due again."""
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: repayments.reverse_payment(ctx, payment_id, body.reason),
    )


@router.post("/admin/eod", tags=["ops"])
def end_of_day(
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
    catch_up: Annotated[
        bool, Query(description="close every date from the open business date through today, in order")
    ] = False,
) -> JSONResponse:
    """Admin: run end of day for today and close the date (``bnpl.eod``); with ``catch_up``,
    every date from the open business date through today, in order (``{"days": [...]}``).

    A date after the open business date without ``catch_up``, or before the last closed date,
    is refused (409). Every step is idempotent or marked done, so a resumed day is safe; the key
    makes a retried request return the first run's summary."""
    actor.require("admin")
    fingerprint = idempotency.request_hash("POST", request.url.path, {"catch_up": True} if catch_up else None)
    with platform.read(actor) as ctx:
        stored = idempotency.lookup(ctx, str(actor), key, fingerprint)
    if stored is None:
        summary = (
            {"days": eod.catch_up(platform, platform.clock.today())} if catch_up else eod.run_eod(platform)
        )
        stored, _ = platform.run(
            actor, lambda ctx: idempotency.remember(ctx, str(actor), key, fingerprint, 200, summary)
        )
    return JSONResponse(stored.response, status_code=stored.status_code)


@router.get("/admin/ledger/check", tags=["ops"])
def ledger_check(platform: PlatformDep, actor: ActorDep) -> Any:
    actor.require("admin")
    return read(platform, actor, checks.check_ledger)


@router.get("/admin/audit/verify", tags=["ops"])
def audit_verify(platform: PlatformDep, actor: ActorDep) -> Any:
    actor.require("admin")
    checked, broken = read(platform, actor, lambda ctx: audit.verify(ctx.conn))
    return {"ok": not broken, "records": checked, "tampered": [asdict(t) for t in broken]}
