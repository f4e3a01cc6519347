"""The API's edge: rate limits per API key, security headers on every response, and the API docs
served from this server rather than a third-party CDN.

- **Rate limits.** Each authenticated request counts against its API key, identified by the key's
  SHA-256 digest (the raw key is never stored), with the limits of the key's role from settings
  (``BNPL_RATE_LIMIT_ADMIN|MERCHANT|CUSTOMER|STAFF``; ``off`` for none), counted in a sliding
  window (``limits``' sliding-window counter), in this process's memory or in Redis
  (``BNPL_RATE_LIMIT_STORAGE``), so that several workers or hosts share one count (if Redis is
  down, requests pass unthrottled, with a warning in the log, rather than all failing). The check
  runs once the key is known and before the endpoint does anything: a refused request (429,
  ``Retry-After``, problem+json ``rate-limited``) changes nothing and claims no Idempotency-Key,
  so it can be retried with the same key.
- **Headers.** ``X-Content-Type-Options: nosniff`` on every response; ``Cache-Control: no-store``
  on every response but the public documents (the docs and their assets, the OpenAPI schema, the
  plan catalogue), so nothing carrying a key, an account or personal data is kept by a cache.
- **Docs.** Swagger UI at ``/docs`` from the ``fastapi-offline`` package's copy, under
  ``/docs-assets``, with a Content-Security-Policy that lets the page load nothing from elsewhere.
  There is no ``/redoc``: ReDoc 2 loads its logo from cdn.redoc.ly whatever it is told.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bnpl.api.problems import ApiError, problem
from bnpl.runtime import Settings

log = logging.getLogger("bnpl.api")

DOCS_ASSETS = "/docs-assets"
# Documents anyone may fetch and cache: no key, no account, no personal data in them.
PUBLIC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/openapi.json", "/plans"})
ROLES = ("admin", "merchant", "customer", "staff")  # every other role (collections, risk) is staff
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'"
)


class LocalWindows:
    """``limits``' sliding-window counter in this process's memory, without its storage's timer:
    ``MemoryStorage`` starts a thread every 10 ms to expire keys, which in a flash sale cost the
    event loop a tenth of its time (thread starts, and its lock handed back and forth). The same
    count: this window's hits plus the last window's, weighted by the share of it still inside the
    sliding window; and the same ``Retry-After``. Each (limit, key) keeps its window's number and
    two counts; those of keys not seen for two windows are dropped now and then."""

    PRUNE_EVERY = 4096  # hits

    def __init__(self) -> None:
        self._lock = threading.Lock()  # sync routes are throttled from the thread pool
        # (limit, key) → [window number, this window's hits, the last window's, the window's length]
        self._windows: dict[tuple[str, str], list[int]] = {}
        self._hits = 0

    def _counts(self, item: RateLimitItem, key: str, now: float) -> tuple[list[int], float, float]:
        """The (limit, key)'s counts moved on to the window of ``now``, the weighted count, and
        the share of the last window still inside the sliding window."""
        expiry = item.get_expiry()
        number = int(now / expiry)  # the window numbers and the weight as limits computes them
        state = self._windows.setdefault((item.key_for(), key), [number, 0, 0, expiry])
        if state[0] != number:
            state[1:3] = [0, state[1] if state[0] == number - 1 else 0]
            state[0] = number
        still_inside = 1 - (((now - expiry) / expiry) % 1)
        return state, state[2] * still_inside + state[1], still_inside

    def hit(self, item: RateLimitItem, key: str) -> bool:
        with self._lock:
            now = time.time()
            self._hits += 1
            if self._hits % self.PRUNE_EVERY == 0:
                self._prune(now)
            state, weighted, _ = self._counts(item, key, now)
            if math.floor(weighted) + 1 > item.amount:
                return False
            state[1] += 1
            return True

    def get_window_stats(self, item: RateLimitItem, key: str) -> tuple[float, int]:
        """When the next hit is let through (as ``limits`` answers it), and how many are left."""
        with self._lock:
            now = time.time()
            state, weighted, still_inside = self._counts(item, key, now)
        expiry, (current, previous) = item.get_expiry(), state[1:3]
        remaining = max(0, item.amount - math.floor(weighted))
        if not (previous or current):
            return now, remaining
        previous_in = (still_inside * expiry) % (expiry / previous) if previous else math.inf
        current_in = ((1 - ((now / expiry) % 1)) * expiry + expiry) % expiry if current else math.inf
        return now + min(previous_in, current_in), remaining

    def _prune(self, now: float) -> None:
        """Forget the keys whose last two windows are over (they count nothing any more)."""
        stale = [k for k, (number, _, _, expiry) in self._windows.items() if int(now / expiry) - number > 1]
        for k in stale:
            del self._windows[k]

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


class RateLimited(ApiError):
    def __init__(self, retry_after: int, detail: str) -> None:
        super().__init__(429, "rate-limited", detail)
        self.retry_after = retry_after


class RateLimiter:
    """The limits of each role, counted per API key digest."""

    def __init__(self, settings: Settings) -> None:
        self.limits: dict[str, list[RateLimitItem]] = {}
        for role in ROLES:
            text = getattr(settings, f"rate_limit_{role}").strip()
            if text.lower() in ("", "off", "none"):
                continue
            try:
                self.limits[role] = parse_many(text)
            except ValueError:
                raise ValueError(
                    f"BNPL_RATE_LIMIT_{role.upper()} must look like '50/second;1000/minute' or 'off', "
                    f"not {text!r}"
                ) from None
        self.limiter: Any  # LocalWindows, or limits' counter over its storage: the same calls
        self.storage: Any
        if settings.rate_limit_storage.strip().lower() == "memory://":
            self.limiter = self.storage = LocalWindows()
            return
        try:
            self.storage = storage_from_string(settings.rate_limit_storage, wrap_exceptions=True)
        except Exception as exc:  # limits raises ConfigurationError or a driver's ImportError
            raise ValueError(f"BNPL_RATE_LIMIT_STORAGE {settings.rate_limit_storage!r}: {exc}") from None
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)

    def check(self, role: str, digest: str) -> None:
        """Count one request of the key with ``digest``; raise :class:`RateLimited` over a limit."""
        for item in self.limits.get(role if role in ROLES else "staff", ()):
            try:
                allowed = self.limiter.hit(item, digest)
            except StorageError as exc:
                # the counter's store (Redis) is down: serve unthrottled rather than fail every call
                log.warning("rate limit not checked: %s", exc)
                return
            if not allowed:
                reset, _ = self.limiter.get_window_stats(item, digest)
                retry_after = max(1, math.ceil(reset - time.time()))
                raise RateLimited(
                    retry_after,
                    f"more than {item} requests for this API key; retry in {retry_after} s",
                )

    def reset(self) -> None:
        self.storage.reset()


def rate_limited_response(exc: RateLimited) -> JSONResponse:
    answer = problem(exc.status, exc.code, exc.detail, retry_after=exc.retry_after)
    answer.headers["Retry-After"] = str(exc.retry_after)
    return answer


def throttle(request: Request, role: str, digest: str) -> None:
    """Called by authentication once it knows the key's role."""
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.check(role, digest)


class SecurityHeaders:
    """Pure ASGI (no per-request task or body buffering): adds the headers as the response starts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        private = path not in PUBLIC_PATHS and not path.startswith(DOCS_ASSETS + "/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                if private:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _docs(app: FastAPI) -> None:
    assets = StaticFiles(directory=str(files("fastapi_offline") / "static"))
    app.mount(DOCS_ASSETS, assets, name="docs-assets")

    def at(request: Request) -> str:
        return str(request.scope.get("root_path", ""))  # behind a proxy that serves us under a prefix

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = at(request)
        page = get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            # Swagger UI would otherwise send the schema's address to validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def install(app: FastAPI, settings: Settings) -> None:
    """Rate limiter, its 429 answer, the headers and the docs. The app must be created with
    ``docs_url=None, redoc_url=None`` (FastAPI's own docs pages load from a CDN)."""
    app.state.rate_limiter = RateLimiter(settings)

    @app.exception_handler(RateLimited)
    async def _rate_limited(_: Request, exc: RateLimited) -> JSONResponse:
        return rate_limited_response(exc)

    app.add_middleware(SecurityHeaders)
    _docs(app)
