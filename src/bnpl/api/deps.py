"""Shared request plumbing: the platform, who is calling, and idempotent execution."""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from bnpl.api.edge import throttle
from bnpl.api.problems import ApiError, problem_body
from bnpl.api.types import MAX_ID
from bnpl.domain.errors import DomainError, IdempotencyConflict
from bnpl.runtime import ADMIN, Actor, Ctx, Platform
from bnpl.services import idempotency
from bnpl.services.apikeys import KEY_CACHE_SECONDS, actor_for_key, hash_key

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


async def get_platform(request: Request) -> Platform:
    # async (as ``current_actor``): a sync dependency costs every request a hop to the threadpool
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


class KeyCache:
    """API keys this process has looked up, with their holder, for ``ttl`` seconds: a request
    with a known key costs no query. ``forget_all`` (after a key is revoked or rotated, or an agent
    disabled, here) empties it at once; a look-up that began before it is not cached, so a key
    read just before a revocation committed is not remembered past it. Other processes keep a
    revoked key at most ``ttl`` seconds."""

    def __init__(self, ttl: float = KEY_CACHE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self._clock = ttl, clock
        self._entries: dict[str, tuple[Actor, float]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        """Take it before looking a key up; hand it to ``put``."""
        return self._generation

    def get(self, digest: str) -> Actor | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        actor, until = entry
        if self._clock() >= until:
            self._entries.pop(digest, None)
            return None
        return actor

    def put(self, digest: str, actor: Actor, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self._entries[digest] = (actor, self._clock() + self.ttl)

    def forget_all(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


bearer = HTTPBearer(auto_error=False, description="an admin, merchant, customer or collections agent API key")


async def current_actor(
    request: Request,
    platform: PlatformDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> Actor:
    """The caller, from the key cache on the event loop; a key not cached is looked up in the
    threadpool (the database is never read on the loop)."""
    raw = credentials.credentials.strip() if credentials else ""
    if not raw:
        raise ApiError(401, "unauthenticated", "send 'Authorization: Bearer <api key>'")
    if hmac.compare_digest(raw.encode(), platform.settings.admin_key.encode()):
        throttle(request, ADMIN.role, hash_key(raw))
        return ADMIN
    cache: KeyCache = request.app.state.key_cache
    digest = hash_key(raw)
    actor = cache.get(digest)
    if actor is None:
        generation = cache.generation
        actor = await run_in_threadpool(_lookup, platform, raw)
        if actor is None:
            raise ApiError(401, "unauthenticated", "unknown or revoked API key")
        cache.put(digest, actor, generation)
    throttle(request, actor.role, digest)  # before the endpoint: a refused request changes nothing
    return actor


def _lookup(platform: Platform, raw: str) -> Actor | None:
    with platform.read() as ctx:
        return actor_for_key(ctx, raw)


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
