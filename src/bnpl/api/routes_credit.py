"""Credit: a customer's assessment, and the model registry for operators."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from bnpl.api.deps import ActorDep, Id, IdempotencyKey, PlatformDep, execute, read
from bnpl.api.schemas import Strict
from bnpl.credit.registry import list_models
from bnpl.services import credit, model_registry

router = APIRouter()


class RoleIn(Strict):
    role: Literal["champion", "shadow", "retired"]


@router.get("/customers/{customer_id}/credit", tags=["credit"])
def customer_credit(customer_id: Id, platform: PlatformDep, actor: ActorDep) -> Any:
    """The customer's credit grade and score as the champion model sees them now, with the reasons
    that cost the most points (zh-CN and English). Staff also see the PD and the model version."""
    return read(platform, actor, lambda ctx: credit.customer_credit(ctx, customer_id))


@router.get("/admin/models", tags=["credit"])
def models(platform: PlatformDep, actor: ActorDep) -> Any:
    """Admin: every registered model, its role (candidate, champion, shadow, retired) and metrics."""
    actor.require("admin")
    return read(platform, actor, lambda ctx: list_models(ctx.conn))


@router.post("/admin/models/{version}/role", tags=["credit"])
def set_role(
    version: Annotated[str, Path(max_length=64)],
    body: RoleIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Admin: promote a model to champion (the previous champion retires), score it in shadow,
    or retire it. Only a model trained on the platform's own features can score checkouts."""
    return execute(
        request, platform, actor, key, body, lambda ctx: model_registry.change_role(ctx, version, body.role)
    )
