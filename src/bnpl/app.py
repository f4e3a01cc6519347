"""The whole web application: the HTTP API with the ops console mounted beside it.

Composition lives here, above both front ends, so the API never imports the console."""

from __future__ import annotations

from fastapi import FastAPI

from bnpl import console
from bnpl.api.app import create_api
from bnpl.runtime import Platform


def create_app(platform: Platform | None = None) -> FastAPI:
    """The API and the console on one platform (from the environment when none is given)."""
    app = create_api(platform)
    console.install(app)
    return app
