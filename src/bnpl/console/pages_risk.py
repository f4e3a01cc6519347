"""Risk in the console: decisions search, the review queue, rules with versions and shadow
statistics, models with their validation figures."""

from __future__ import annotations

from datetime import date, timedelta
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import Response

from bnpl.collections.work import mask
from bnpl.console.web import CsrfField, PathId, QueryId, StaffDep, allow, attempt, platform_of, render
from bnpl.domain.decision import Outcome
from bnpl.services import explain, queries
from bnpl.services import orders as order_service
from bnpl.services.rule_stats import rule_stats

router = APIRouter(prefix="/console/risk")
OUTCOMES = [o.value for o in Outcome]
PAGE = 50  # decisions a page
MAX_PAGE = 200  # 10,000 decisions back; further back, filter by date or customer


@router.get("/decisions")
def decisions_search(
    request: Request,
    staff: StaffDep,
    customer: QueryId = None,
    outcome: str = "",
    day: date | None = None,
    page: int = 1,
) -> Response:
    """Newest first, 50 a page (``?page=N``, from 1 to ``MAX_PAGE``: any other number shows the
    nearest page), by customer, outcome and business date (indexed: fast on a big book). Customer
    numbers come with their names, masked."""
    allow(staff, "risk_analyst")
    if outcome and outcome not in OUTCOMES:
        raise HTTPException(422, f"outcome is one of {', '.join(OUTCOMES)}")
    page = min(max(page, 1), MAX_PAGE)
    with platform_of(request).read(staff.actor) as ctx:
        start = None
        if page > 1:
            start = queries.decision_page_start(ctx, customer, outcome or None, day, (page - 1) * PAGE)
        found = (
            []
            if page > 1 and start is None
            else explain.search(
                ctx, customer_id=customer, outcome=outcome or None, day=day, before=start, limit=PAGE + 1
            )
        )
        names = queries.customer_names(ctx, [d["customer_id"] for d in found])
    return render(
        request,
        "decisions.html.j2",
        staff,
        found=found[:PAGE],
        more=len(found) > PAGE and page < MAX_PAGE,
        page=page,
        names={i: mask(n) for i, n in names.items()},
        outcomes=OUTCOMES,
        q={"customer": customer or "", "outcome": outcome, "day": day or ""},
    )


@router.get("/reviews")
def reviews(request: Request, staff: StaffDep) -> Response:
    allow(staff, "risk_analyst")
    with platform_of(request).read(staff.actor) as ctx:
        waiting = order_service.list_reviews(ctx, limit=100)
    return render(request, "reviews.html.j2", staff, waiting=waiting)


@router.post("/reviews/{order_id}")
def decide_review(
    request: Request,
    staff: StaffDep,
    order_id: PathId,
    csrf: CsrfField,
    approve: Annotated[bool, Form()],
    note: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    allow(staff, "risk_analyst")
    return attempt(
        "/console/risk/reviews",
        f"order {order_id} {'approved' if approve else 'declined'}",
        request,
        staff,
        csrf,
        "review.decided",
        "order",
        order_id,
        partial(order_service.decide_review, order_id=order_id, approve=approve, note=note),
        {"approve": approve},
    )


@router.get("/rules")
def rules(request: Request, staff: StaffDep, days: Annotated[int, Query(ge=1, le=366)] = 7) -> Response:
    allow(staff, "risk_analyst")
    platform = platform_of(request)
    with platform.read(staff.actor) as ctx:
        since = ctx.today - timedelta(days=days - 1)
        stats = rule_stats(ctx, since=since)  # a week by default: a page, not a batch job
    return render(request, "rules.html.j2", staff, rules=platform.rules, stats=stats, since=since)


@router.get("/models")
def models(request: Request, staff: StaffDep) -> Response:
    allow(staff, "risk_analyst")
    with platform_of(request).read(staff.actor) as ctx:
        registry = queries.registered_models(ctx)
    return render(request, "models.html.j2", staff, models=registry)
