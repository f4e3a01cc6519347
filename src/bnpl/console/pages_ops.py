"""Sign-in, the home page each role lands on, the portfolio dashboard and the customer 360."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from bnpl.console import charts
from bnpl.console.web import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    CsrfField,
    PathId,
    StaffDep,
    act,
    allow,
    back,
    check_csrf,
    new_login_csrf,
    platform_of,
    render,
    secure_cookies,
    set_login_cookie,
    source_of,
)
from bnpl.domain.errors import DomainError
from bnpl.runtime import Ctx
from bnpl.services import access, console_flash, explain, parties, queries, statements
from bnpl.services import credit as credit_service
from bnpl.services import staff_sign_in as signin
from bnpl.services.staff import Staff, sign_out

router = APIRouter(prefix="/console")

HOME = {
    "admin": "/console/dashboard",
    "risk_analyst": "/console/dashboard",
    "supervisor": "/console/supervisor",
    "agent": "/console/queue",
    "field_agent": "/console/visits",
    "merchant": "/console/merchant/orders",
}
DASHBOARD_ROLES = ("risk_analyst", "supervisor")
CUSTOMER_ROLES = ("risk_analyst", "supervisor", "agent")


# --- signing in and out --------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request) -> Response:
    return _login_form(request)


def _login_form(request: Request, status: int = 200, error: str | None = None) -> Response:
    """The sign-in form with a fresh form token (and the messages kept under the old one)."""
    token = new_login_csrf()
    response = render(request, "login.html.j2", None, status=status, error=error, csrf=token)
    set_login_cookie(request, response, token)
    return response


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    csrf: CsrfField,
) -> Response:
    """Failures are answered with the form itself (no redirect, so nothing about them is kept):
    403 for an expired form, 429 with Retry-After past a throttle, the form again for a wrong
    password. A plain ``def``: the password check runs in the thread pool, off the event loop."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not hmac.compare_digest(expected.encode(), csrf.encode()):
        return _login_form(request, 403, "the sign-in form expired; try again")
    signed = signin.sign_in(platform_of(request), username, password, source_of(request))
    if isinstance(signed, signin.Refused):
        wait = signed.retry_after
        page = render(
            request,
            "login.html.j2",
            None,
            status=429,
            error=f"Too many sign-in attempts; try again in {wait} s.",
            with_flash=False,
            csrf=expected,
        )
        page.headers["Retry-After"] = str(wait)
        return page
    if signed is None:
        return render(
            request,
            "login.html.j2",
            None,
            error="wrong username or password",
            with_flash=False,
            csrf=expected,
        )
    token, staff = signed
    response = RedirectResponse(HOME[staff.role], status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies(request))
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, staff: StaffDep, csrf: CsrfField) -> Response:
    token = request.cookies.get(COOKIE, "")
    check_csrf(staff, csrf)
    platform = platform_of(request)
    platform.run(staff.actor, lambda ctx: sign_out(ctx, token))  # audited by sign_out
    # the sign-in page says so: a new signed-out token, and the message kept under it
    signed_out = new_login_csrf()
    console_flash.put(platform, signed_out, [("ok", "signed out")])
    response = RedirectResponse("/console/login", status_code=303)
    set_login_cookie(request, response, signed_out)
    response.delete_cookie(COOKIE)
    return response


@router.get("")
@router.get("/")
def home(staff: StaffDep) -> Response:
    return RedirectResponse(HOME[staff.role], status_code=303)


# --- the portfolio dashboard -----------------------------------------------------------------------


@router.get("/dashboard")
def dashboard(request: Request, staff: StaffDep) -> Response:
    allow(staff, *DASHBOARD_ROLES)
    with platform_of(request).read(staff.actor) as ctx:
        days = [(str(d.business_date), d.summary) for d in queries.snapshot_days(ctx, 90)]
        rolls = queries.month_roll_rates(ctx)
        today = ctx.today
        shipped = queries.captured_between(ctx, today - timedelta(days=29), today)
        owed = queries.outstanding_now(ctx)
    return render(
        request,
        "dashboard.html.j2",
        staff,
        today=today,
        shipped=shipped,
        owed=owed,
        **_dashboard(days, rolls),
    )


def _dashboard(days: list[tuple[str, dict[str, Any]]], rolls: dict[str, Any]) -> dict[str, Any]:
    """Headline figures and charts from the daily snapshots (the last 90 end-of-day records); what
    was shipped and what is owed now are read as such (``queries``), not from the snapshots' net
    movements."""
    labels = [d for d, _ in days]
    last = days[-1][1] if days else None
    window = [s for _, s in days[-30:]]

    def outcome(s: dict[str, Any], name: str, key: str = "count") -> int:
        return int(s.get("decisions", {}).get(name, {}).get(key, 0))

    def moved(s: dict[str, Any], account: str) -> int:
        return int(s.get("movements", {}).get(account, 0))

    decided = sum(outcome(s, o) for s in window for o in ("approve", "decline", "review", "approve_lower"))
    approved = sum(outcome(s, "approve") for s in window)
    headline = {
        "customers": last["customers"] if last else 0,
        "checkouts_30d": decided,
        "approval_rate_30d": approved / decided if decided else None,
        "approved_amount_30d": sum(outcome(s, "approve", "amount") for s in window),
        "overdue": sum(b["amount"] for b in (last or {}).get("delinquent", {}).values()),
        "written_off_90d": sum(moved(s, "credit_loss_expense") for _, s in days),
        "recovered_90d": -sum(moved(s, "recovery_income") for _, s in days),
    }
    buckets = ("M1", "M2", "M3", "M3+")
    graphs = {
        "outstanding": charts.lines(
            {"outstanding principal": [s["outstanding"] for _, s in days]},
            labels,
            unit="yuan",
            title="Outstanding principal at each end of day",
        ),
        "decisions": charts.stacked(
            {o: [outcome(s, o) for _, s in days] for o in ("approve", "approve_lower", "review", "decline")},
            labels,
            title="Decisions per day",
        ),
        "buckets": charts.stacked(
            {b: [s.get("delinquent", {}).get(b, {}).get("amount", 0) for _, s in days] for b in buckets},
            labels,
            unit="yuan",
            title="Overdue by bucket",
        ),
        "losses": charts.stacked(
            {
                "written off": [moved(s, "credit_loss_expense") for _, s in days],
                "recovered": [-moved(s, "recovery_income") for _, s in days],
            },
            labels,
            unit="yuan",
            title="Losses and recoveries per day",
        ),
    }
    roll_table = {
        frm: {"accounts": sum(row.values()), "to": {to: n / sum(row.values()) for to, n in row.items()}}
        for frm, row in rolls["rows"].items()
    }
    return {
        "headline": headline,
        "graphs": graphs,
        "rolls": roll_table,
        "roll_dates": (rolls["start"], rolls["end"]),
        "days": len(days),
        "last": last,
    }


# --- customer 360 -------------------------------------------------------------------------------------


def _may_see_customer(ctx: Ctx, staff: Staff, customer_id: int) -> None:
    """Analysts and supervisors see any customer; an agent only the customers of their open cases
    (the rule is ``services.access``, the same for the API)."""
    allow(staff, *CUSTOMER_ROLES)
    try:
        access.may_see_customer(ctx, customer_id, staff.actor)
    except DomainError:
        raise HTTPException(404, "no such customer among your cases") from None


def _phone_like(text: str) -> bool:
    """Digits (at least five) with the separators phone numbers are written with."""
    return sum(ch.isdigit() for ch in text) >= 5 and all(ch.isdigit() or ch in "+-() " for ch in text)


@router.get("/customers")
def find_customer(
    request: Request, staff: StaffDep, q: Annotated[str, Query(max_length=60)] = ""
) -> Response:
    """By phone number (through its keyed hash: the number itself is sealed), by customer number,
    or by the start of the name (literally: % and _ are no wildcards). An agent finds only the
    customers of their own open cases."""
    allow(staff, *CUSTOMER_ROLES)
    text = q.strip()
    by_phone: list[int] | None = None
    if _phone_like(text):
        with platform_of(request).read(staff.actor) as ctx:
            by_phone = parties.find_customers(ctx, phone=text) or None
    if by_phone is None and text.isascii() and text.isdigit() and len(text) <= 18:
        return RedirectResponse(f"/console/customers/{int(text)}", status_code=303)
    found: Sequence[Any] = []
    if text:
        with platform_of(request).read(staff.actor) as ctx:
            found = queries.customer_search(ctx, name_prefix=text, ids=by_phone)
    return render(request, "customers.html.j2", staff, q=q, found=found)


@router.get("/customers/{customer_id}")
def customer_360(request: Request, staff: StaffDep, customer_id: PathId) -> Response:
    return _customer_page(request, staff, customer_id, revealed=None)


@router.post("/customers/{customer_id}/reveal")
def reveal(
    request: Request,
    staff: StaffDep,
    customer_id: PathId,
    csrf: CsrfField,
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Personal data is masked; seeing it takes a reason, and the reason is kept in the audit log."""
    if len(reason.strip()) < 5:
        return back(
            request,
            f"/console/customers/{customer_id}",
            error="say why you need to see it (at least 5 characters)",
        )

    def read(ctx: Ctx) -> dict[str, Any]:
        _may_see_customer(ctx, staff, customer_id)
        contact = parties.contact_of(ctx, customer_id)
        return {"phone": contact.phone, "address": contact.address}

    revealed = act(
        request,
        staff,
        csrf,
        "pii.revealed",
        "customer",
        customer_id,
        read,
        {"reason": reason.strip(), "fields": ["phone", "address"]},
    )
    return _customer_page(request, staff, customer_id, revealed)


def _customer_page(
    request: Request, staff: Staff, customer_id: int, revealed: dict[str, Any] | None
) -> Response:
    from bnpl.collections.contacts import flags_of
    from bnpl.collections.work import mask

    with platform_of(request).read(staff.actor) as ctx:
        _may_see_customer(ctx, staff, customer_id)
        person = queries.customer_header(ctx, customer_id)
        if person is None:
            raise HTTPException(404, f"customer {customer_id} not found")
        # opened only to be masked, unless revealed just now (for a reason, audited)
        contact = parties.contact_of(ctx, customer_id) if revealed is None else None
        statement = statements.statement(ctx, customer_id, history_limit=60)
        try:
            credit = credit_service.customer_credit(ctx, customer_id)
        except DomainError:
            credit = None
        their_orders = queries.customer_orders(ctx, customer_id, 30)
        decided = explain.search(ctx, customer_id=customer_id, limit=15)
        contacts = queries.customer_contacts(ctx, customer_id, 40)
        flags = flags_of(ctx, customer_id)
        cases = queries.customer_cases(ctx, customer_id)
    pii = revealed if contact is None else {"phone": mask(contact.phone), "address": mask(contact.address)}
    return render(
        request,
        "customer.html.j2",
        staff,
        person=person,
        pii=pii,
        revealed=revealed is not None,
        statement=statement,
        credit=credit,
        orders=their_orders,
        decisions=decided,
        contacts=contacts,
        flags=flags,
        cases=cases,
    )
