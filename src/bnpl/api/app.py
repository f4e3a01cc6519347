"""The FastAPI application. ``create_app(platform)`` takes the platform (settings, clock, engine)
so tests and the demo can inject a business clock and a database."""

from __future__ import annotations

from fastapi import FastAPI

from bnpl import __version__
from bnpl.api import problems, routes_admin, routes_orders, routes_parties
from bnpl.services.context import Platform, Settings

DESCRIPTION = """
Use first, pay later (先用后付) for live-stream and short-video marketplaces.

Amounts are integers in **fen** (1 yuan = 100 fen). Every POST that moves money or state needs an
`Idempotency-Key` header. Errors are `application/problem+json` with a stable `code`.
Authenticate with `Authorization: Bearer <api key>` (admin, merchant or customer key).
"""


def create_app(platform: Platform | None = None) -> FastAPI:
    platform = platform or Platform(Settings.from_env())
    app = FastAPI(title="bnpl", version=__version__, description=DESCRIPTION)
    app.state.platform = platform
    app.state.key_cache = {}
    problems.install(app)
    app.include_router(routes_admin.router)
    app.include_router(routes_parties.router)
    app.include_router(routes_orders.router)
    return app
