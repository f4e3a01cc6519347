"""Shared request plumbing: the platform, who is calling, and idempotent execution."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from bnpl.api.problems import ApiError
from bnpl.services import idempotency
from bnpl.services.context import ADMIN, Actor, Ctx, Platform
from bnpl.services.parties import actor_for_key

MAX_ID = 2**62
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def current_actor(
    request: Request,
    platform: PlatformDep,
    authorization: Annotated[str | None, Header(description="Bearer <api key>")] = None,
) -> Actor:
    raw = (authorization or "").removeprefix("Bearer ").strip()
    if not raw:
        raise ApiError(401, "unauthenticated", "send 'Authorization: Bearer <api key>'")
    if hmac.compare_digest(raw.encode(), platform.settings.admin_key.encode()):
        return ADMIN
    cache: dict[str, Actor] = request.app.state.key_cache
    digest = hashlib.sha256(raw.encode()).hexdigest()
    actor = cache.get(digest)
    if actor is None:
        with platform.read() as ctx:
            actor = actor_for_key(ctx, raw)
        if actor is None:
            raise ApiError(401, "unauthenticated", "unknown API key")
        cache[digest] = actor  # keys are immutable once issued
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="required on every POST that changes money or state"),
]


def execute(
    request: Request,
    platform: Platform,
    actor: Actor,
    key: str | None,
    body: BaseModel | None,
    work: Callable[[Ctx], Any],
    status: int = 200,
) -> JSONResponse:
    """Run ``work`` once per Idempotency-Key: a replay returns the stored answer, a reuse with a
    different body is refused with 409, and concurrent requests with one key have one effect."""
    if not key:
        raise ApiError(400, "idempotency-key-required", "send an Idempotency-Key header with this request")
    scope = str(actor)
    fingerprint = idempotency.request_hash(
        request.method, request.url.path, body.model_dump(mode="json") if body else None
    )

    def once(ctx: Ctx) -> tuple[int, Any, bool]:
        stored = idempotency.claim(ctx, scope, key, fingerprint)
        if stored is not None:
            return stored.status_code, stored.response, True
        result = work(ctx)
        idempotency.store(ctx, scope, key, status, result)
        return status, result, False

    code, result, replayed = platform.run(actor, once)
    return JSONResponse(result, status_code=code, headers={"Idempotent-Replayed": str(replayed).lower()})


def read(platform: Platform, actor: Actor, work: Callable[[Ctx], Any]) -> Any:
    with platform.read(actor) as ctx:
        return work(ctx)
