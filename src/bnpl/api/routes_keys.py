"""API keys over HTTP: rotate or revoke a merchant's, a customer's or a collections agent's key,
and disable or enable an agent (``services/apikeys.py``). The holder may rotate or revoke their
own key, an admin anyone's. A new key is in the first answer only (a replay has it ``null``).
This process forgets its cached keys once a change commits: the old key gets 401 at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bnpl.api.deps import ActorDep, Id, IdempotencyKey, KeyCache, PlatformDep, execute
from bnpl.runtime import Ctx
from bnpl.services import apikeys

router = APIRouter(tags=["keys"])


class RotatedOut(BaseModel):
    kind: Literal["merchant", "customer", "agent"]
    id: int
    role: str = Field(description="the role the new key carries")
    revoked: int = Field(description="how many keys of the holder stopped working")
    api_key: str | None = Field(None, description="the new key, shown once; null in a replay")
    api_key_shown: str | None = Field(None, description="in a replay: when the key was shown")


class RevokedOut(BaseModel):
    kind: Literal["merchant", "customer", "agent"]
    id: int
    role: str
    revoked: int = Field(description="how many keys of the holder stopped working")


class AgentStateOut(BaseModel):
    id: int
    name: str
    role: str
    active: bool
    changed: bool = Field(description="false when the agent already was in that state")


def _changing_keys(
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: str,
    work: Callable[[Ctx], Any],
    secret: bool = False,
) -> JSONResponse:
    response = execute(
        request, platform, actor, key, None, work, secret_fields=("api_key",) if secret else ()
    )
    cache: KeyCache = request.app.state.key_cache
    cache.forget_all()  # committed (or refused): no key this process cached outlives the change
    return response


@router.post("/merchants/{merchant_id}/key/rotate", response_model=RotatedOut)
def rotate_merchant_key(
    merchant_id: Id, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    """The merchant (or an admin): every key of the merchant stops working now and a new one is
    returned, this once."""
    return _changing_keys(
        request, platform, actor, key, lambda ctx: apikeys.rotate(ctx, "merchant", merchant_id), secret=True
    )


@router.post("/merchants/{merchant_id}/key/revoke", response_model=RevokedOut)
def revoke_merchant_key(
    merchant_id: Id, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    """The merchant (or an admin): every key of the merchant stops working now; none replaces it
    until a rotation."""
    return _changing_keys(
        request, platform, actor, key, lambda ctx: apikeys.revoke(ctx, "merchant", merchant_id)
    )


@router.post("/customers/{customer_id}/key/rotate", response_model=RotatedOut)
def rotate_customer_key(
    customer_id: Id, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    """The customer (or an admin): the customer's keys stop working now; a new one is returned once."""
    return _changing_keys(
        request, platform, actor, key, lambda ctx: apikeys.rotate(ctx, "customer", customer_id), secret=True
    )


@router.post("/customers/{customer_id}/key/revoke", response_model=RevokedOut)
def revoke_customer_key(
    customer_id: Id, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    """The customer (or an admin): the customer's keys stop working now."""
    return _changing_keys(
        request, platform, actor, key, lambda ctx: apikeys.revoke(ctx, "customer", customer_id)
    )


@router.post("/admin/collections/agents/{agent_id}/key/rotate", response_model=RotatedOut)
def rotate_agent_key(
    agent_id: Id, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    """Admin (or the agent themself): the agent's keys stop working now; a new one is returned once."""
    return _changing_keys(
        request, platform, actor, key, lambda ctx: apikeys.rotate(ctx, "agent", agent_id), secret=True
    )


@router.post("/admin/collections/agents/{agent_id}/key/revoke", response_model=RevokedOut)
def revoke_agent_key(
    agent_id: Id, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    """Admin (or the agent themself): the agent's keys stop working now."""
    return _changing_keys(request, platform, actor, key, lambda ctx: apikeys.revoke(ctx, "agent", agent_id))


@router.post("/admin/collections/agents/{agent_id}/disable", response_model=AgentStateOut)
def disable_agent(
    agent_id: Id, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    """Admin: the agent may no longer act, and their key is refused (401), until enabled again.
    Their open cases stay theirs: a supervisor reassigns them."""
    return _changing_keys(
        request, platform, actor, key, lambda ctx: apikeys.set_agent_active(ctx, agent_id, False)
    )


@router.post("/admin/collections/agents/{agent_id}/enable", response_model=AgentStateOut)
def enable_agent(
    agent_id: Id, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    """Admin: a disabled agent may act again with the key they had."""
    return _changing_keys(
        request, platform, actor, key, lambda ctx: apikeys.set_agent_active(ctx, agent_id, True)
    )
