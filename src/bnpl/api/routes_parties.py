"""Merchants, customers, credit accounts and statements."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bnpl.api.deps import ActorDep, Id, IdempotencyKey, PlatformDep, execute, read
from bnpl.api.schemas import (
    AccountOut,
    AccountPatch,
    AmountIn,
    ControlsIn,
    CustomerIn,
    CustomerOut,
    MerchantIn,
    MerchantOut,
    PaymentOut,
)
from bnpl.services import credit_lines, parties, repayments, settlement, statements

router = APIRouter()


@router.post("/merchants", status_code=201, response_model=MerchantOut, tags=["merchants"])
def create_merchant(
    body: MerchantIn, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    """Admin: register a merchant. The response carries its API key, shown only this once."""
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: parties.create_merchant(
            ctx, body.name, body.mdr_bps, body.trial_days, body.settlement_delay_days, body.categories
        ),
        status=201,
        secret_fields=("api_key",),
    )


@router.get("/merchants/{merchant_id}", response_model=MerchantOut, tags=["merchants"])
def get_merchant(merchant_id: Id, platform: PlatformDep, actor: ActorDep) -> Any:
    return read(platform, actor, lambda ctx: parties.get_merchant(ctx, merchant_id))


@router.get("/merchants/{merchant_id}/balances", tags=["merchants"])
def merchant_balances(merchant_id: Id, platform: PlatformDep, actor: ActorDep) -> Any:
    """What the platform owes the merchant (payable) and what it owes back (receivable)."""

    def work(ctx: Any) -> Any:
        parties.get_merchant(ctx, merchant_id)
        return {"merchant_id": merchant_id, **settlement.merchant_balances(ctx, merchant_id)}

    return read(platform, actor, work)


@router.post("/customers", status_code=201, response_model=CustomerOut, tags=["customers"])
def create_customer(
    body: CustomerIn, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    """Admin: open a customer with a credit account. The response carries the customer's API key."""
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: parties.create_customer(
            ctx, body.name, body.credit_limit, body.timezone, body.phone, body.address
        ),
        status=201,
        secret_fields=("api_key",),
    )


@router.get("/customers/{customer_id}", response_model=CustomerOut, tags=["customers"])
def get_customer(customer_id: Id, platform: PlatformDep, actor: ActorDep) -> Any:
    return read(platform, actor, lambda ctx: parties.get_customer(ctx, customer_id))


@router.patch("/customers/{customer_id}/account", response_model=AccountOut, tags=["customers"])
def patch_account(customer_id: Id, body: AccountPatch, platform: PlatformDep, actor: ActorDep) -> Any:
    """Admin: change a credit limit or freeze, block, close or reopen a line."""
    return platform.run(
        actor, lambda ctx: credit_lines.set_account(ctx, customer_id, body.credit_limit, body.state)
    )


@router.post("/customers/{customer_id}/controls", response_model=AccountOut, tags=["customers"])
def controls(
    customer_id: Id,
    body: ControlsIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Customer: set a spending ceiling of your own below your limit (``null`` clears it), or pause
    use first, pay later for some days (``0`` resumes now)."""
    own: object = body.own_limit if "own_limit" in body.model_fields_set else credit_lines.KEEP
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: credit_lines.set_controls(ctx, customer_id, own, body.pause_days),
    )


@router.get("/customers/{customer_id}/statement", tags=["customers"])
def statement(customer_id: Id, platform: PlatformDep, actor: ActorDep) -> Any:
    """What the customer owes and when, and the history of their money from the ledger."""
    return read(platform, actor, lambda ctx: statements.statement(ctx, customer_id))


@router.post(
    "/customers/{customer_id}/repayments", status_code=201, tags=["repayments"], response_model=PaymentOut
)
def repay(
    customer_id: Id,
    body: AmountIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Pay any amount at any time: fees then principal, oldest due first; the rest becomes credit."""
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: repayments.repay(ctx, customer_id, body.amount, body.currency),
        status=201,
    )


@router.post("/customers/{customer_id}/refunds", status_code=201, tags=["repayments"])
def refund(
    customer_id: Id,
    body: AmountIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Pay the customer's credit balance (overpayments, refunds of returns) back out."""
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: repayments.refund_credit_balance(ctx, customer_id, body.amount),
        status=201,
    )
