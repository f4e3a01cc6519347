"""The console's plumbing: templates, the signed-in member of staff, CSRF, and running an action
with its audit record in one transaction.

Pages are rendered on the server (Jinja2, autoescaped); forms post and redirect (POST → 303 → GET),
so the browser's back button and reload never repeat an action. What happened, or the services'
refusal, comes back to the page it was done on as a one-line flash message kept on the server
(``services.console_flash``), never in the URL.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader

from bnpl.domain.errors import DomainError
from bnpl.domain.money import format_fen
from bnpl.runtime import Ctx, Platform
from bnpl.services import audit, console_flash
from bnpl.services.staff import Staff, csrf_ok, session_for

COOKIE = "bnpl_console"
LOGIN_CSRF_COOKIE = "bnpl_login_csrf"

# every template escapes what it prints (select_autoescape() would miss the .html.j2 names)
templates = Environment(loader=PackageLoader("bnpl.console", "templates"), autoescape=True)
templates.filters["yuan"] = lambda fen: "—" if fen is None else format_fen(int(fen))
templates.filters["pct"] = lambda v, digits=1: "—" if v is None else f"{v * 100:.{digits}f}%"
DEFAULT_ZONE = "Asia/Shanghai"  # a customer's zone when none is known (DESIGN: contact rules)


def local_time(at: datetime | str | None, zone: str | None) -> str:
    """A UTC timestamp in the customer's local time, with the zone named: contact rules are in
    local time, so the times beside them are too (``2026-12-03 10:05 (Asia/Shanghai)``)."""
    if at is None:
        return "—"
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    if when.tzinfo is None:  # stored as UTC
        when = when.replace(tzinfo=UTC)
    try:
        tz = ZoneInfo(zone or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo(DEFAULT_ZONE)
    return f"{when.astimezone(tz):%Y-%m-%d %H:%M} ({tz.key})"


templates.filters["local"] = local_time


class SignIn(Exception):
    """No session (or a closed one): the browser is sent to the sign-in page."""


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def secure_cookies(request: Request) -> bool:
    """Secure cookies over HTTPS, and always outside development (behind a TLS proxy)."""
    return request.url.scheme == "https" or platform_of(request).settings.environment != "development"


def current_staff(request: Request) -> Staff:
    with platform_of(request).read() as ctx:
        staff = session_for(ctx, request.cookies.get(COOKIE))
    if staff is None:
        raise SignIn()
    return staff


StaffDep = Annotated[Staff, Depends(current_staff)]


def allow(staff: Staff, *roles: str) -> None:
    """Only these roles (and admin) see the page; anyone else gets a plain 403."""
    if staff.role not in roles and staff.role != "admin":
        raise HTTPException(403, "this page is not for your role")


def render(
    request: Request,
    template: str,
    staff: Staff | None,
    status: int = 200,
    error: str | None = None,
    with_flash: bool = True,
    **values: Any,
) -> HTMLResponse:
    """The page, with the flash messages waiting for this browser (then gone) and ``error``, a
    refusal shown on the page itself. Error pages pass ``with_flash=False``: they need no database."""
    waiting = console_flash.take(platform_of(request), flash_token(request, staff)) if with_flash else []
    html = templates.get_template(template).render(
        staff=staff,
        path=request.url.path,
        flashes=waiting + ([("err", error)] if error else []),
        **values,
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def flash_token(request: Request, staff: Staff | None) -> str | None:
    """The token a browser's flash messages are kept under: its session's, or signed out, its
    sign-in form's."""
    return request.cookies.get(COOKIE if staff else LOGIN_CSRF_COOKIE)


# no framing, no sniffing, no script or style from anywhere else; the pages need no script at all
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def back(request: Request, to: str, message: str | None = None, error: str | None = None) -> RedirectResponse:
    """Redirect to ``to``, which shows ``message`` (done) or ``error`` (refused) once. Only for
    signed-in pages: the message is kept under the session."""
    token = request.cookies.get(COOKIE)
    if token:
        console_flash.put(platform_of(request), token, [("ok", message or ""), ("err", error or "")])
    return RedirectResponse(to, status_code=303)


CsrfField = Annotated[str, Form(alias="csrf", max_length=100)]
MAX_ID = 2**62  # ids past this are no ids (SQLite would overflow): a 422 page, not a 500
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
FormId = Annotated[int, Form(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def check_csrf(staff: Staff, token: str) -> None:
    if not csrf_ok(staff, token):
        raise HTTPException(403, "the form expired or did not come from this console; reload the page")


Refusal = Callable[[Any], str | None]


def act(
    request: Request,
    staff: Staff,
    csrf: str,
    action: str,
    entity: str,
    entity_id: object,
    work: Callable[[Ctx], Any],
    details: dict[str, Any] | None = None,
    refused: Refusal | None = None,
) -> Any:
    """Run ``work`` as the member of staff, with the console's audit record in the same
    transaction: either both are written or neither. ``refused`` reads a result the service
    returned without doing the thing (a contact policy block): it is audited as ``<action>.blocked``
    with the reason."""
    check_csrf(staff, csrf)

    def both(ctx: Ctx) -> Any:
        result = work(ctx)
        why = refused(result) if refused else None
        audit.record(
            ctx,
            staff.stream,
            f"{action}.blocked" if why else action,
            entity,
            entity_id,
            None,
            {"role": staff.role, **(details or {}), **({"blocked": why} if why else {})},
        )
        return result

    return platform_of(request).run(staff.actor, both)


def attempt(
    to: str,
    done: str,
    request: Request,
    staff: Staff,
    csrf: str,
    action: str,
    entity: str,
    entity_id: object,
    work: Callable[[Ctx], Any],
    details: dict[str, Any] | None = None,
    refused: Refusal | None = None,
) -> Response:
    """``act`` and redirect back to ``to`` with ``done``, or with the reason it did not happen."""
    try:
        result = act(request, staff, csrf, action, entity, entity_id, work, details, refused)
    except DomainError as exc:
        return back(request, to, error=exc.detail)
    why = refused(result) if refused else None
    return back(request, to, error=why) if why else back(request, to, message=done)


def policy_block(verdict: dict[str, Any] | None) -> str | None:
    """The page's words for a contact the policy stopped (a verdict with rule and reason)."""
    if not verdict:
        return None
    return f"Blocked by the contact policy ({verdict['rule']}): {verdict['reason']}. Nothing happened."


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def set_login_cookie(request: Request, response: Response, token: str) -> None:
    """The signed-out browser's token: the sign-in form posts it back (CSRF), and flash messages
    for the sign-in page ("signed out") are kept under it."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        max_age=3600,
    )


def source_of(request: Request) -> str:
    """The client's address as the application sees it: the peer's, or behind a reverse proxy the
    one uvicorn takes from X-Forwarded-For when the proxy's address is in FORWARDED_ALLOW_IPS
    (default 127.0.0.1). Set that to the proxy's address, or every sign-in counts as the proxy's."""
    return request.client.host if request.client else "unknown"
