"""The ops console: server-rendered pages for staff, served by the same application as the API
(``/console``). ``install(app)`` adds its routes and makes errors on its pages HTML, not JSON."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from bnpl.domain.errors import DomainError

PREFIX = "/console"


def install(app: FastAPI) -> None:
    from bnpl.console import pages_collections, pages_merchant, pages_ops, pages_risk
    from bnpl.console.web import SignIn, render

    for module in (pages_ops, pages_collections, pages_risk, pages_merchant):
        app.include_router(module.router, include_in_schema=False)

    @app.exception_handler(SignIn)
    async def _sign_in(_: Request, __: SignIn) -> Response:
        return RedirectResponse(f"{PREFIX}/login", status_code=303)

    def html_for_console(kind: type[Exception], status_of: Any) -> None:
        api_handler = app.exception_handlers[kind]

        async def handler(request: Request, exc: Exception) -> Response:
            if not request.url.path.startswith(PREFIX):
                answer = api_handler(request, exc)
                return await answer if inspect.isawaitable(answer) else answer
            status, detail = status_of(exc)
            return render(
                request, "error.html.j2", None, status=status, with_flash=False, code=status, detail=detail
            )

        app.add_exception_handler(kind, handler)

    html_for_console(HTTPException, lambda e: (e.status_code, str(e.detail)))
    html_for_console(DomainError, lambda e: (e.status, e.detail))
    html_for_console(Exception, lambda e: (500, "something went wrong on our side; nothing was changed"))
    html_for_console(
        RequestValidationError,
        lambda e: (422, "; ".join(f"{'.'.join(map(str, x['loc'][1:]))}: {x['msg']}" for x in e.errors())),
    )
