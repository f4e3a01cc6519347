"""The HTTP API. ``create_api(platform)`` takes the platform (settings, clock, engine) so tests and
the demo can inject a business clock and a database; ``bnpl.app`` adds the console beside it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from bnpl import __version__
from bnpl.api import (
    problems,
    routes_admin,
    routes_collections,
    routes_credit,
    routes_keys,
    routes_orders,
    routes_parties,
)
from bnpl.api.deps import KeyCache
from bnpl.api.edge import install as install_edge
from bnpl.api.fast_checkout import FastCheckout
from bnpl.api.group_commit import AdmissionControl, GroupCommit
from bnpl.api.links import add_links
from bnpl.api.routes_marketplace import router as marketplace_router
from bnpl.api.schemas import Problem
from bnpl.runtime import Platform, Settings
from bnpl.services.boot import open_platform

DESCRIPTION = """
Use first, pay later (先用后付) for live-stream and short-video marketplaces.

Amounts are integers in **fen** (1 yuan = 100 fen). Every POST that moves money or state needs an
`Idempotency-Key` header. Errors are `application/problem+json` with a stable `code`.
Authenticate with `Authorization: Bearer <api key>` (admin, merchant, customer or collections
agent key). Keys can be rotated and revoked (`.../key/rotate`, `.../key/revoke`); each key reads
only what its holder needs (docs/security.md).
"""


PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": f"{title} (application/problem+json, stable `code`)"}
    for status, title in (
        (400, "Bad request"),
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (404, "Not found"),
        (409, "Conflict: wrong state, or an Idempotency-Key reused with another body"),
        (429, "Too many requests for this API key: retry after `Retry-After` seconds"),
        (503, "Overloaded: nothing was done; retry after `Retry-After` seconds with the same key"),
    )
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema, with errors described as they are sent: application/problem+json."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        problem_ref = {"$ref": "#/components/schemas/Problem"}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    if status.isdigit() and int(status) >= 400:
                        response["content"] = {"application/problem+json": {"schema": problem_ref}}
        schema.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
        schema.get("components", {}).get("schemas", {}).pop("ValidationError", None)
        add_links(schema)  # the main flows, for readers and for the stateful fuzzer
        app.openapi_schema = schema
    return app.openapi_schema


def create_api(platform: Platform | None = None) -> FastAPI:
    platform = platform or open_platform(Settings.from_env())
    # the docs pages come from edge.install: FastAPI's own load Swagger UI and ReDoc from a CDN
    app = FastAPI(
        title="bnpl",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        # no OpenTelemetry here: FastAPI's check for it, on every request, was 6% of a checkout's
        # time on the event loop
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.platform = platform
    app.state.key_cache = KeyCache()
    app.state.fast_checkouts = 0
    s = platform.settings
    app.state.group_commit = (
        GroupCommit(
            platform,
            s.checkout_batch_max,
            s.checkout_batch_workers,
            s.checkout_in_flight_max,
            s.checkout_processes,
        )
        if s.checkout_batch_workers > 0
        else None
    )
    problems.install(app)
    app.add_middleware(FastCheckout)  # inside admission control: it is bounded like the route
    app.add_middleware(AdmissionControl)  # inside the edge's: a shed answer has its headers too
    install_edge(app, platform.settings)
    for router in (
        routes_admin.router,
        routes_parties.router,
        routes_orders.router,
        routes_credit.router,
        routes_collections.router,
        routes_keys.router,
        marketplace_router,
    ):
        app.include_router(router, responses=PROBLEMS)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
