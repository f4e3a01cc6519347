"""Errors as application/problem+json (RFC 9457) with a stable ``code`` and ``type``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from bnpl.domain.errors import DomainError
from bnpl.runtime import RunAgain

log = logging.getLogger("bnpl.api")

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"urn:bnpl:problem:{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        problem_body(status, code, detail, **extra), status_code=status, media_type="application/problem+json"
    )


class ApiError(Exception):
    """An error raised by the HTTP layer itself (auth, headers)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        self.status, self.code, self.detail = status, code, detail


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.detail, **{k: v for k, v in exc.extra.items()})

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem(400, "malformed-json", "the request body is not valid JSON")
        if any(tuple(e.get("loc", ())) == ("header", "Idempotency-Key") for e in errors):
            return problem(
                400, "idempotency-key-required", "send an Idempotency-Key header (1-255 characters)"
            )
        fields = [
            {"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body", "message": e.get("msg", "")}
            for e in errors
        ]
        detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return problem(422, "validation-error", detail, errors=fields)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RunAgain)
    async def _busy(_: Request, exc: RunAgain) -> JSONResponse:
        # the same keys kept by other requests again and again: nothing of this one was kept
        answer = problem(503, "busy", "these Idempotency-Keys are in use by requests still running; retry")
        answer.headers["Retry-After"] = "1"
        return answer

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return problem(500, "internal-error", "something went wrong on our side; nothing was changed")
