"""`bnpl serve`: the API and the console, with demo data if asked."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from bnpl.cli.app import out, platform, state


def serve(
    host: str = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="BNPL_PORT", help="the port (or BNPL_PORT)")] = 8000,
    demo: Annotated[
        bool,
        typer.Option(help="serve the demo book: a simulated season up to yesterday (built once, kept)"),
    ] = False,
    workers: int = 1,
) -> None:
    """Run the HTTP API (OpenAPI at /docs)."""
    from bnpl.serving import serve as run_server

    p = platform()
    if demo:
        from bnpl.demo import prepare

        prepare(p, out)
    out.print(f"bnpl API on http://{host}:{port}  (docs: /docs, ops console: /console)")
    if workers > 1:
        # each worker builds its own app from the environment; pass the business date along
        if state.get("date"):
            os.environ["BNPL_BUSINESS_DATE"] = state["date"]
        run_server("bnpl.asgi:app", host, port, workers)
    else:
        from bnpl.app import create_app

        run_server(create_app(p), host, port)
