"""Collections in the console: an agent's queue and case, contacts through the contact policy,
promises and hardship plans; the supervisor's reassignments and approvals; field agents' visits.
Every action is the collections service's own (the same checks as the API and CLI)."""

from __future__ import annotations

from datetime import date, datetime
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from bnpl.collections import contacts as contact_service
from bnpl.collections import hardship, work
from bnpl.collections import visits as visit_service
from bnpl.collections.contacts import OUTCOMES, book
from bnpl.console.web import (
    CsrfField,
    FormId,
    PathId,
    StaffDep,
    allow,
    attempt,
    back,
    check_csrf,
    platform_of,
    policy_block,
    render,
)
from bnpl.domain.errors import DomainError
from bnpl.domain.field_visits import CONDUCT
from bnpl.domain.field_visits import OUTCOMES as VISIT_OUTCOMES
from bnpl.domain.money import parse_yuan
from bnpl.services import queries

router = APIRouter(prefix="/console")
AGENTS = ("agent", "supervisor")  # an "agent" console user may be a specialist in collections


def _agent_id(staff: Any) -> int:
    if staff.agent_id is None:
        raise HTTPException(403, "your console user is not linked to a collections agent")
    return int(staff.agent_id)


@router.get("/queue")
def queue(request: Request, staff: StaffDep) -> Response:
    allow(staff, *AGENTS)
    with platform_of(request).read(staff.actor) as ctx:
        cases = work.queue(ctx, staff.agent_id, limit=100) if staff.agent_id else []
        names = queries.customer_names(ctx, [c["customer_id"] for c in cases])
    masked = {i: work.mask(n) for i, n in names.items()}
    return render(request, "queue.html.j2", staff, cases=cases, names=masked)


@router.get("/cases/{case_id}")
def case_page(request: Request, staff: StaffDep, case_id: PathId, template: str | None = None) -> Response:
    allow(staff, *AGENTS)
    # what an agent sends or says to the customer about what is owed (reminders before a due
    # date, visit notices and legal letters have their own paths)
    agent_templates = {
        k: t
        for k, t in book().templates.items()
        if t.channel in ("call", "sms", "email", "letter")
        and t.party == "customer"
        and t.purpose == "collect"
    }
    check = None
    with platform_of(request).read(staff.actor) as ctx:
        try:
            case = work.case_view(ctx, case_id)
            if template and staff.agent_id:  # "would this contact be allowed now?" before making it
                check = contact_service.check(ctx, case_id, int(staff.agent_id), template)
        except DomainError as exc:
            raise HTTPException(exc.status, exc.detail) from None
        agents = queries.active_agents(ctx, roles=("agent", "specialist"))
    return render(
        request,
        "case.html.j2",
        staff,
        case=case,
        templates=agent_templates,
        outcomes=[o for o in OUTCOMES if o != "sent"],
        check=check,
        chosen=template,
        agents=agents,
    )


@router.post("/cases/{case_id}/check")
def check_contact(
    request: Request,
    staff: StaffDep,
    case_id: PathId,
    csrf: CsrfField,
    template: Annotated[str, Form(max_length=64)],
) -> Response:
    """The contact form's "check" button: back to the case with the policy's answer for the chosen
    template (the page asks, nothing is recorded). One template list serves both buttons."""
    allow(staff, *AGENTS)
    check_csrf(staff, csrf)
    return RedirectResponse(f"/console/cases/{case_id}?{urlencode({'template': template})}", status_code=303)


@router.post("/cases/{case_id}/contact")
def log_contact(
    request: Request,
    staff: StaffDep,
    case_id: PathId,
    csrf: CsrfField,
    template: Annotated[str, Form(max_length=64)],
    outcome: Annotated[str, Form(max_length=16)],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """The contact policy runs first: a blocked contact is recorded with its rule, and said so."""
    allow(staff, *AGENTS)
    return attempt(
        f"/console/cases/{case_id}",
        f"{template} logged: {outcome}",
        request,
        staff,
        csrf,
        "contact.logged",
        "case",
        case_id,
        partial(
            contact_service.contact,
            case_id=case_id,
            agent_id=_agent_id(staff),
            template_id=template,
            outcome=outcome,
            note=note,
        ),
        {"template": template, "outcome": outcome},
        refused=lambda made: None if made["allowed"] else policy_block(made),
    )


@router.post("/cases/{case_id}/promise")
def record_promise(
    request: Request,
    staff: StaffDep,
    case_id: PathId,
    csrf: CsrfField,
    amount_yuan: Annotated[str, Form(max_length=20)],
    due_on: Annotated[date, Form()],
) -> Response:
    allow(staff, *AGENTS)
    to = f"/console/cases/{case_id}"
    amount = parse_yuan(amount_yuan)
    if amount is None:
        return back(request, to, error="the amount is yuan with at most two decimals, e.g. 120.50")
    return attempt(
        to,
        "promise recorded",
        request,
        staff,
        csrf,
        "promise.recorded",
        "case",
        case_id,
        partial(work.promise, case_id=case_id, amount=amount, due_on=due_on, agent_id=_agent_id(staff)),
        {"amount": amount, "due_on": due_on.isoformat()},
    )


@router.post("/cases/{case_id}/plan")
def propose_plan(
    request: Request,
    staff: StaffDep,
    case_id: PathId,
    csrf: CsrfField,
    kind: Annotated[str, Form(max_length=16)],
    note: Annotated[str, Form(max_length=500)],
    instalments: Annotated[int, Form(ge=1, le=24)] = 1,
    waive_fees: Annotated[bool, Form()] = False,
    settle_yuan: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    allow(staff, *AGENTS)
    to = f"/console/cases/{case_id}"
    settle = parse_yuan(settle_yuan) if settle_yuan.strip() else None
    return attempt(
        to,
        "proposed to the supervisor",
        request,
        staff,
        csrf,
        "plan.proposed",
        "case",
        case_id,
        partial(
            hardship.propose,
            case_id=case_id,
            kind=kind,
            note=note,
            instalments=instalments,
            waive_fees=waive_fees,
            settle_amount=settle,
        ),
    )


@router.post("/cases/{case_id}/visit")
def ask_for_visit(
    request: Request,
    staff: StaffDep,
    case_id: PathId,
    csrf: CsrfField,
    reason: Annotated[str, Form(max_length=300)],
) -> Response:
    allow(staff, *AGENTS)
    return attempt(
        f"/console/cases/{case_id}",
        "visit requested; a supervisor decides",
        request,
        staff,
        csrf,
        "visit.requested",
        "case",
        case_id,
        partial(visit_service.request_visit, case_id=case_id, agent_id=_agent_id(staff), reason=reason),
    )


# --- the supervisor ---------------------------------------------------------------------------------


@router.get("/supervisor")
def supervisor(request: Request, staff: StaffDep) -> Response:
    allow(staff, "supervisor")
    with platform_of(request).read(staff.actor) as ctx:
        unassigned = work.queue(ctx, None, limit=50)
        requested = [visit_service.get_visit(ctx, i) for i in queries.visit_ids_in_status(ctx, "requested")]
        plans = [hardship.get_hardship_plan(ctx, i) for i in queries.proposed_plan_ids(ctx)]
        crew = queries.active_agents(ctx)
    return render(
        request,
        "supervisor.html.j2",
        staff,
        unassigned=unassigned,
        requested=requested,
        plans=plans,
        field_agents=[a for a in crew if a.role == "field_agent"],
        agents=[a for a in crew if a.role in ("agent", "specialist")],
    )


@router.post("/cases/{case_id}/reassign")
def reassign(
    request: Request,
    staff: StaffDep,
    case_id: PathId,
    csrf: CsrfField,
    agent: FormId,
    note: Annotated[str, Form(max_length=300)] = "reassigned by the supervisor",
) -> Response:
    allow(staff, "supervisor")
    return attempt(
        "/console/supervisor",
        f"case {case_id} reassigned",
        request,
        staff,
        csrf,
        "case.reassigned",
        "case",
        case_id,
        partial(work.reassign, case_id=case_id, agent_id=agent, note=note),
    )


@router.post("/visits/{visit_id}/approve")
def approve_visit(
    request: Request,
    staff: StaffDep,
    visit_id: PathId,
    csrf: CsrfField,
    agent_a: FormId,
    agent_b: FormId,
    slot: Annotated[datetime, Form()],
) -> Response:
    """The slot is the customer's local time (the form says so)."""
    allow(staff, "supervisor")
    return attempt(
        "/console/supervisor",
        f"visit {visit_id} approved; the customer is told",
        request,
        staff,
        csrf,
        "visit.approved",
        "visit",
        visit_id,
        partial(
            visit_service.approve_visit,
            visit_id=visit_id,
            supervisor_id=_agent_id(staff),
            agent_a=agent_a,
            agent_b=agent_b,
            slot=slot,  # naive: the customer's local time, as the form says; with an offset, that moment
        ),
        refused=lambda done: None if done["notice"]["sent"] else policy_block(done["notice"]),
    )


@router.post("/visits/{visit_id}/decline")
def decline_visit(
    request: Request,
    staff: StaffDep,
    visit_id: PathId,
    csrf: CsrfField,
    reason: Annotated[str, Form(max_length=300)],
) -> Response:
    allow(staff, "supervisor")
    return attempt(
        "/console/supervisor",
        f"visit {visit_id} declined",
        request,
        staff,
        csrf,
        "visit.declined",
        "visit",
        visit_id,
        partial(
            visit_service.decline_visit, visit_id=visit_id, supervisor_id=_agent_id(staff), reason=reason
        ),
    )


@router.post("/plans/{plan_id}/decide")
def decide_plan(
    request: Request,
    staff: StaffDep,
    plan_id: PathId,
    csrf: CsrfField,
    approve: Annotated[bool, Form()],
    note: Annotated[str, Form(max_length=300)],
) -> Response:
    allow(staff, "supervisor")
    return attempt(
        "/console/supervisor",
        f"plan {plan_id} {'approved' if approve else 'rejected'}",
        request,
        staff,
        csrf,
        "plan.decided",
        "plan",
        plan_id,
        partial(hardship.decide, plan_id=plan_id, approve=approve, note=note),
    )


# --- field agents ----------------------------------------------------------------------------------


@router.get("/visits")
def my_visits(request: Request, staff: StaffDep) -> Response:
    allow(staff, "field_agent")
    with platform_of(request).read(staff.actor) as ctx:
        visits = visit_service.visits_for(ctx, _agent_id(staff)) if staff.agent_id else []
        today = ctx.today
    return render(
        request, "visits.html.j2", staff, visits=visits, conduct=CONDUCT, outcomes=VISIT_OUTCOMES, today=today
    )


@router.post("/visits/{visit_id}/outcome")
async def visit_outcome(request: Request, staff: StaffDep, visit_id: PathId) -> Response:
    """The outcome with every conduct question answered yes or no (a "no" is kept as a breach)."""
    allow(staff, "field_agent")
    form = await request.form()
    answers = {item: form.get(item) for item in CONDUCT}
    if any(v not in ("yes", "no") for v in answers.values()):
        return await run_in_threadpool(
            back, request, "/console/visits", error="answer every conduct question yes or no"
        )
    promise = parse_yuan(str(form.get("promise_yuan") or "")) if form.get("promise_yuan") else None
    try:
        promise_date = date.fromisoformat(str(form["promise_date"])) if form.get("promise_date") else None
    except ValueError:
        return await run_in_threadpool(
            back, request, "/console/visits", error="the promise date is YYYY-MM-DD"
        )
    return await run_in_threadpool(  # the transaction must not block the event loop
        attempt,
        "/console/visits",
        f"visit {visit_id} recorded",
        request,
        staff,
        str(form.get("csrf") or ""),
        "visit.recorded",
        "visit",
        visit_id,
        partial(
            visit_service.record_outcome,
            visit_id=visit_id,
            agent_id=_agent_id(staff),
            outcome=str(form.get("outcome") or ""),
            checklist={k: v == "yes" for k, v in answers.items()},
            note=str(form.get("note") or "")[:500],
            promise_amount=promise,
            promise_date=promise_date,
        ),
        refused=lambda done: policy_block(done.get("blocked")),
    )
