"""Shared request plumbing: the platform, who is calling, and idempotent execution."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from bnpl.api.edge import throttle
from bnpl.api.problems import ApiError, problem_body
from bnpl.api.types import MAX_ID
from bnpl.domain.errors import DomainError, IdempotencyConflict
from bnpl.runtime import ADMIN, Actor, Ctx, Platform
from bnpl.services import idempotency
from bnpl.services.parties import actor_for_key, hash_key

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


bearer = HTTPBearer(auto_error=False, description="an admin, merchant or customer API key")


def current_actor(
    request: Request,
    platform: PlatformDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> Actor:
    raw = credentials.credentials.strip() if credentials else ""
    if not raw:
        raise ApiError(401, "unauthenticated", "send 'Authorization: Bearer <api key>'")
    if hmac.compare_digest(raw.encode(), platform.settings.admin_key.encode()):
        throttle(request, ADMIN.role, hash_key(raw))
        return ADMIN
    cache: dict[str, Actor] = request.app.state.key_cache
    digest = hash_key(raw)
    actor = cache.get(digest)
    if actor is None:
        with platform.read() as ctx:
            actor = actor_for_key(ctx, raw)
        if actor is None:
            raise ApiError(401, "unauthenticated", "unknown API key")
        cache[digest] = actor  # keys are immutable once issued
    throttle(request, actor.role, digest)  # before the endpoint: a refused request changes nothing
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="required on every POST that changes money or state; a replay returns the first answer",
    ),
]


def execute(
    request: Request,
    platform: Platform,
    actor: Actor,
    key: str | None,
    body: BaseModel | None,
    work: Callable[[Ctx], Any],
    status: int = 200,
    secret_fields: tuple[str, ...] = (),
) -> JSONResponse:
    """Run ``work`` once per Idempotency-Key: a replay returns the stored answer, a reuse with a
    different body is refused with 409, and concurrent requests with one key have one effect.

    ``secret_fields`` of the answer (a new API key) go to this caller only: the stored answer, and
    so a replay, has them ``null`` beside a ``<field>_shown`` note (``services/idempotency.py``).

    A refused request (4xx) is remembered too, after its transaction rolled back, so a replay gets
    the same refusal even if the state has moved on since; a new attempt takes a new key."""
    if not key:
        raise ApiError(400, "idempotency-key-required", "send an Idempotency-Key header with this request")
    scope = str(actor)
    fingerprint = idempotency.request_hash(
        request.method, request.url.path, body.model_dump(mode="json") if body else None
    )

    def answer_or_replay(ctx: Ctx) -> tuple[int, Any, bool]:
        stored = idempotency.claim(ctx, scope, key, fingerprint)
        if stored is not None:
            return stored.status_code, stored.response, True
        result = work(ctx)
        idempotency.store(ctx, scope, key, status, result, secret_fields)
        return status, result, False

    try:
        code, result, replayed = platform.run(actor, answer_or_replay)
    except DomainError as exc:
        if isinstance(exc, IdempotencyConflict):
            raise
        refused_status, refusal = exc.status, problem_body(exc.status, exc.code, exc.detail, **exc.extra)

        stored, replayed = platform.run(
            actor, lambda ctx: idempotency.remember(ctx, scope, key, fingerprint, refused_status, refusal)
        )
        code, result = stored.status_code, stored.response
    return JSONResponse(
        result,
        status_code=code,
        media_type="application/problem+json" if code >= 400 else None,
        headers={"Idempotent-Replayed": str(replayed).lower()},
    )


def read(platform: Platform, actor: Actor, work: Callable[[Ctx], Any]) -> Any:
    with platform.read(actor) as ctx:
        return work(ctx)
