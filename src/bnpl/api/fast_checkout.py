"""The checkout's short way through the web stack: ``POST /orders`` and
``POST /orders/{id}/capture`` in their ordinary form, straight to the group commit.

A live-stream burst is thousands of these two requests. Through FastAPI each one is matched
against every route, has its dependencies solved and its body parsed and then validated twice
(py-spy: about a quarter of a worker's time went there). This layer sits inside the security
headers and admission control and answers a checkout itself when it is the ordinary case:

- a merchant's API key already in this process's key cache,
- an ``Idempotency-Key`` of 1–255 characters,
- for ``/orders``, a JSON body that the same ``AuthorizeIn`` model accepts.

Then it counts the key's rate limit and hands the command to the same ``routes_orders`` code the
route uses (``grouped``): the same fingerprint, group commit, answer and headers. Everything
else (an unknown or admin key, a missing header, a body the model refuses, another media type)
goes on to the FastAPI route with the body it read, so every refusal is the route's own, word
for word. The route stays the documented one; this only skips work for the request that needs
none of it.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bnpl.api.deps import KeyCache
from bnpl.api.edge import RateLimited, rate_limited_response, throttle
from bnpl.api.routes_orders import authorize_command, grouped
from bnpl.api.schemas import AuthorizeIn
from bnpl.api.types import MAX_ID
from bnpl.services.apikeys import hash_key

CAPTURE = re.compile(r"/orders/([1-9][0-9]{0,18})/capture")
KEY_MAX = 255


class FastCheckout:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        if path == "/orders":
            await self._authorize(scope, receive, send)
        elif (match := CAPTURE.fullmatch(path)) and int(match[1]) <= MAX_ID:
            await self._capture(scope, receive, send, int(match[1]))
        else:
            await self.app(scope, receive, send)

    async def _authorize(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body()
        caller = _ordinary(request)
        if caller is not None and _is_json(request):
            try:
                order = AuthorizeIn.model_validate_json(body)
            except ValidationError:
                order = None
            if order is not None:
                command = authorize_command(caller[0].subject_id or 0, order)
                fields = order.model_dump(mode="json")
                await self._answer(request, scope, send, caller, fields, command)
                return
        await self.app(scope, _replay(body, receive), send)

    async def _capture(self, scope: Scope, receive: Receive, send: Send, order_id: int) -> None:
        request = Request(scope, receive)
        caller = _ordinary(request)
        if caller is None:
            await self.app(scope, receive, send)
            return
        await self._answer(request, scope, send, caller, None, order_id)

    async def _answer(
        self,
        request: Request,
        scope: Scope,
        send: Send,
        caller: tuple[Any, str, str],
        fields: Any,
        command: Any,
    ) -> None:
        actor, digest, key = caller
        try:
            throttle(request, actor.role, digest)
        except RateLimited as exc:
            await rate_limited_response(exc)(scope, request.receive, send)
            return
        response = await grouped(request, actor, key, fields, command)
        assert response is not None  # _ordinary saw the group commit on
        request.app.state.fast_checkouts += 1  # how many took the short way (benches, tests)
        await response(scope, request.receive, send)


def _ordinary(request: Request) -> tuple[Any, str, str] | None:
    """(merchant, key digest, Idempotency-Key) when the request is the ordinary case: group
    commit on, a merchant's key this process has cached, a usable Idempotency-Key."""
    state = request.app.state
    if getattr(state, "group_commit", None) is None:
        return None
    key = request.headers.get("idempotency-key", "")
    if not 1 <= len(key) <= KEY_MAX:
        return None
    scheme, _, raw = request.headers.get("authorization", "").partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        return None
    if hmac.compare_digest(raw.encode(), state.platform.settings.admin_key.encode()):
        return None
    digest = hash_key(raw)
    cache: KeyCache = state.key_cache
    actor = cache.get(digest)
    if actor is None or actor.role != "merchant":
        return None
    return actor, digest, key


def _is_json(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind == "application/json"


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the route, with the body this layer has already read given again."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
