"""Collections over HTTP: the agent's queue and cases, contacts (the contact policy runs first),
promises, flags, hardship plans and settlements, field visits, and the compliance report.

Agents, specialists, field agents and supervisors call with their own API keys (issued when they
are added); they act as themselves. An admin may act for any agent by naming it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field, StrictBool, StrictInt

from bnpl.api import types
from bnpl.api.deps import ActorDep, Id, IdempotencyKey, OptionalId, PlatformDep, execute, read
from bnpl.api.schemas import Strict
from bnpl.api.types import Fen, Text
from bnpl.collections import cases, compliance, contacts, hardship, visits, work
from bnpl.domain.errors import InvalidInput
from bnpl.runtime import Actor
from bnpl.services.apikeys import issue_key

router = APIRouter(tags=["collections"])


def _acting(actor: Actor, agent_id: int | None) -> int:
    """The agent acting: the caller themself, or (for an admin) the agent named."""
    if actor.role != "admin":
        return int(actor.subject_id or 0)
    if agent_id is None:
        raise InvalidInput("name the agent acting (agent_id)")
    return agent_id


class ContactIn(Strict):
    template: Annotated[Text, Field(min_length=1, max_length=64)]
    outcome: Literal["reached", "no_answer", "left_message", "wrong_number", "refused", "sent"]
    note: Annotated[Text, Field(max_length=2000)] = ""
    agent_id: types.Id | None = None


class PromiseIn(Strict):
    amount: Annotated[StrictInt, Field(gt=0, le=types.MAX_LIMIT)]
    due_on: date
    agent_id: types.Id | None = None


class FlagIn(Strict):
    kind: Literal["cease_contact", "dispute", "hardship", "bereavement", "illness"]
    note: Annotated[Text, Field(min_length=1, max_length=500)]
    order_id: types.Id | None = None


class PlanIn(Strict):
    kind: Literal["plan", "settlement"]
    note: Annotated[Text, Field(min_length=1, max_length=500)]
    instalments: Annotated[StrictInt, Field(ge=1, le=24)] = 6
    waive_fees: StrictBool = False
    settle_amount: Fen | None = None


class DecisionIn(Strict):
    approve: StrictBool
    note: Annotated[Text, Field(min_length=1, max_length=500)]


class VisitIn(Strict):
    reason: Annotated[Text, Field(min_length=1, max_length=500)]
    agent_id: types.Id | None = None


class ApprovalIn(Strict):
    agents: Annotated[list[types.Id], Field(min_length=2, max_length=2)]
    slot: datetime  # with an offset, or naive meaning the customer's local time
    supervisor_id: types.Id | None = None


class DeclineIn(Strict):
    reason: Annotated[Text, Field(min_length=1, max_length=500)]
    supervisor_id: types.Id | None = None


class OutcomeIn(Strict):
    outcome: Literal["met", "not_home", "promise", "dispute", "refused"]
    checklist: dict[str, StrictBool]
    note: Annotated[Text, Field(max_length=2000)] = ""
    promise_amount: Fen | None = None
    promise_date: date | None = None
    agent_id: types.Id | None = None


class AgentIn(Strict):
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    role: Literal["agent", "specialist", "field_agent", "supervisor"]
    skills: list[Literal["M1", "M2", "M3", "M3+"]] = Field(default_factory=list)


@router.post("/admin/collections/agents", status_code=201)
def create_agent(
    body: AgentIn, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    """Admin: add a member of the collections team; the response carries their API key (once)."""

    def work_(ctx: Any) -> dict[str, Any]:
        agent = cases.create_agent(ctx, body.name, body.role, list(body.skills))
        return {**agent, "api_key": issue_key(ctx, body.role, agent["id"])}

    return execute(request, platform, actor, key, body, work_, status=201, secret_fields=("api_key",))


@router.get("/admin/collections/agents")
def agents(platform: PlatformDep, actor: ActorDep) -> Any:
    actor.require("supervisor")
    return read(platform, actor, cases.list_agents)


@router.get("/collections/queue")
def queue(
    platform: PlatformDep,
    actor: ActorDep,
    agent_id: OptionalId = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """My open cases, worst first, with today's tasks (a supervisor: any agent's, or unassigned)."""
    who = actor.subject_id if actor.role in ("agent", "specialist") else agent_id
    return read(platform, actor, lambda ctx: work.queue(ctx, who, limit))


@router.get("/collections/cases/{case_id}")
def case(case_id: Id, platform: PlatformDep, actor: ActorDep) -> Any:
    return read(platform, actor, lambda ctx: work.case_view(ctx, case_id))


@router.get("/collections/cases/{case_id}/contact-check")
def contact_check(
    case_id: Id,
    platform: PlatformDep,
    actor: ActorDep,
    template: Annotated[str, Query(max_length=64)],
    agent_id: OptionalId = None,
) -> Any:
    """Would this contact be allowed now, and if not, by which rule? Nothing is recorded."""
    return read(platform, actor, lambda ctx: contacts.check(ctx, case_id, _acting(actor, agent_id), template))


@router.post("/collections/cases/{case_id}/contacts", status_code=201)
def log_contact(
    case_id: Id,
    body: ContactIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Log a contact. The contact policy runs first: a blocked contact is recorded with its rule
    (``allowed: false``) and must not happen."""
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: contacts.contact(
            ctx, case_id, _acting(actor, body.agent_id), body.template, body.outcome, body.note
        ),
        status=201,
    )


@router.post("/collections/cases/{case_id}/promises", status_code=201)
def make_promise(
    case_id: Id,
    body: PromiseIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: work.promise(ctx, case_id, body.amount, body.due_on, body.agent_id),
        status=201,
    )


@router.post("/collections/cases/{case_id}/plans", status_code=201)
def propose_plan(
    case_id: Id, body: PlanIn, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: hardship.propose(
            ctx, case_id, body.kind, body.note, body.instalments, body.waive_fees, body.settle_amount
        ),
        status=201,
    )


@router.post("/collections/plans/{plan_id}/decision")
def decide_plan(
    plan_id: Id,
    body: DecisionIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Supervisor: approve or reject a hardship plan or settlement."""
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: hardship.decide(ctx, plan_id, body.approve, body.note),
    )


@router.post("/customers/{customer_id}/flags", status_code=201)
def set_flag(
    customer_id: Id,
    body: FlagIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Record a cease-contact request or a dispute (the customer may), or a vulnerability (staff)."""
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: contacts.set_flag(ctx, customer_id, body.kind, body.note, body.order_id),
        status=201,
    )


@router.post("/collections/cases/{case_id}/visits", status_code=201)
def request_visit(
    case_id: Id, body: VisitIn, request: Request, platform: PlatformDep, actor: ActorDep, key: IdempotencyKey
) -> JSONResponse:
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: visits.request_visit(ctx, case_id, _acting(actor, body.agent_id), body.reason),
        status=201,
    )


@router.post("/collections/visits/{visit_id}/approval")
def approve_visit(
    visit_id: Id,
    body: ApprovalIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """Supervisor: two field agents and a slot; the customer is told now through the contact policy."""
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: visits.approve_visit(
            ctx, visit_id, _acting(actor, body.supervisor_id), body.agents[0], body.agents[1], body.slot
        ),
    )


@router.post("/collections/visits/{visit_id}/decline")
def decline_visit(
    visit_id: Id,
    body: DeclineIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: visits.decline_visit(ctx, visit_id, _acting(actor, body.supervisor_id), body.reason),
    )


@router.post("/collections/visits/{visit_id}/outcome")
def visit_outcome(
    visit_id: Id,
    body: OutcomeIn,
    request: Request,
    platform: PlatformDep,
    actor: ActorDep,
    key: IdempotencyKey,
) -> JSONResponse:
    """A field agent records the outcome and the conduct checklist (every item answered)."""
    return execute(
        request,
        platform,
        actor,
        key,
        body,
        lambda ctx: visits.record_outcome(
            ctx,
            visit_id,
            _acting(actor, body.agent_id),
            body.outcome,
            body.checklist,
            body.note,
            body.promise_amount,
            body.promise_date,
        ),
    )


@router.get("/collections/visits")
def my_visits(platform: PlatformDep, actor: ActorDep, agent_id: OptionalId = None) -> Any:
    """A field agent's scheduled visits."""
    return read(platform, actor, lambda ctx: visits.visits_for(ctx, _acting(actor, agent_id)))


@router.get("/admin/compliance")
def compliance_report(
    platform: PlatformDep,
    actor: ActorDep,
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
) -> Any:
    """Supervisor: contacts made and blocked (by rule), visits, conduct breaches, and the re-check
    of every contact made against the contact policy (``proof.ok``)."""
    return read(platform, actor, lambda ctx: compliance.report(ctx, start, end))
