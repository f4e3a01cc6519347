"""Benchmark: what the API's edge (api/edge.py) adds to every request.

Usage: python bench/edge.py [--n 20000]

Prints one JSON object as its last line, each figure the median of five runs, in microseconds of
CPU time (Redis: wall time):
  limit_check_us        one rate-limit check of a merchant key with the default limits (two
                        sliding windows) in this process's memory
  limit_check_redis_us  the same in Redis on 127.0.0.1:6379 (absent when Redis is not there)
  headers_us            the security-headers middleware around a bare ASGI endpoint
  request_us / request_unlimited_us   a whole GET /merchants/{id} with the merchant's key through
                        the real application on SQLite (auth, limits, headers, routing, one read,
                        JSON), with rate limits on and off, called over ASGI in-process
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any


def median_us(work: Callable[[], None], n: int, clock: Callable[[], float] = time.process_time) -> float:
    """Median over five runs of ``n`` calls. CPU time by default: on a machine shared with other
    work, wall time mostly measures the neighbours."""
    runs = []
    for _ in range(5):
        t0 = clock()
        for _ in range(n):
            work()
        runs.append((clock() - t0) / n * 1e6)
    return round(statistics.median(runs), 2)


def limiter(storage: str, n: int) -> float | None:
    from bnpl.api.edge import RateLimiter
    from bnpl.runtime import Settings

    try:
        limits = RateLimiter(
            Settings(rate_limit_merchant="1000000/second;100000000/minute", rate_limit_storage=storage)
        )
        digest = uuid.uuid4().hex * 2
        limits.check("merchant", digest)
    except Exception:
        return None
    try:
        # Redis: wall time, as the round trip is most of it
        clock = time.process_time if storage.startswith("memory") else time.perf_counter
        return median_us(lambda: limits.check("merchant", digest), n, clock)
    finally:
        for item in limits.limits["merchant"]:
            limits.limiter.clear(item, digest)


def asgi_get(app: Any, path: str, query: bytes, headers: list[tuple[bytes, bytes]]) -> Callable[[], None]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "app": None,
    }
    loop = asyncio.new_event_loop()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message

    def call() -> None:
        loop.run_until_complete(app(dict(scope), receive, send))

    return call


def headers_only(n: int) -> float:
    from starlette.responses import JSONResponse

    from bnpl.api.edge import SecurityHeaders

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        await JSONResponse({"ok": True})(scope, receive, send)

    bare = median_us(asgi_get(endpoint, "/x", b"", []), n)
    wrapped = median_us(asgi_get(SecurityHeaders(endpoint), "/x", b"", []), n)
    return round(wrapped - bare, 2)


def whole_request(n: int) -> tuple[float, float]:
    import tempfile

    from bnpl.app import create_app
    from bnpl.runtime import ADMIN, Settings
    from bnpl.services import parties
    from bnpl.services.boot import open_platform
    from bnpl.store.migrate import upgrade

    platform = open_platform(Settings(database_url=f"sqlite:///{tempfile.mkdtemp()}/edge.db"))
    upgrade(platform.engine)
    key = platform.run(ADMIN, lambda c: parties.create_merchant(c, "M", 60))["api_key"]
    headers = [(b"authorization", f"Bearer {key}".encode()), (b"host", b"bench")]
    limited = create_app(
        open_platform(
            replace(platform.settings, rate_limit_merchant="1000000/second;100000000/minute"),
            engine=platform.engine,
        )
    )
    unlimited_platform = open_platform(
        replace(platform.settings, rate_limit_merchant="off"), engine=platform.engine
    )
    unlimited = create_app(unlimited_platform)
    calls = [asgi_get(app, "/merchants/1", b"", headers) for app in (limited, unlimited)]
    for call in calls:
        call()  # the key's first use reads the database; later ones hit the key cache
    runs: list[list[float]] = [[], []]
    for _ in range(3):  # interleaved, so that neither gets the quieter moment
        for i, call in enumerate(calls):
            runs[i].append(median_us(call, max(1, n // 20)))
    platform.dispose()
    return statistics.median(runs[0]), statistics.median(runs[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    result: dict[str, Any] = {"limit_check_us": limiter("memory://", args.n)}
    redis = limiter("redis://127.0.0.1:6379/0", max(1, args.n // 10))
    if redis is not None:
        result["limit_check_redis_us"] = redis
    result["headers_us"] = headers_only(args.n)
    result["request_us"], result["request_unlimited_us"] = whole_request(args.n)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
