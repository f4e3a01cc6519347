"""Field visits, from request to recorded outcome (rules in ``domain.field_visits``).

requested (an agent, on an eligible case) → approved by a supervisor with two field agents and a
slot, the customer notified through the contact policy → done, with the outcome and the conduct
checklist, the visit itself checked by the contact policy when the agents record it, and its cost
posted as collection cost. A supervisor may reject a request or cancel an approved visit. Once its
outcome is recorded a visit is never changed (a database trigger refuses it); notes annotate it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from bnpl.collections.contacts import (
    acting_agent,
    attempt_row,
    aware,
    book,
    decide,
    load_facts,
    record_flag,
    request_for,
)
from bnpl.domain import postings
from bnpl.domain.contact_policy import ContactRequest
from bnpl.domain.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from bnpl.domain.field_visits import (
    CaseFacts,
    Crew,
    approval_problems,
    breaches,
    outcome_problems,
    request_problems,
)
from bnpl.domain.money import format_fen
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.services.access import visible_case
from bnpl.services.credit_lines import lock_account
from bnpl.services.ledger import post
from bnpl.services.parties import contact_of
from bnpl.store.bulk import among, chunks
from bnpl.store.tables import (
    collection_agents,
    collection_cases,
    contact_attempts,
    customers,
    field_visits,
    promises,
)

HOTLINE = "400-000-0000"
_VISIT = ContactRequest(channel="field_visit", party="customer", purpose="collect", discloses_debt=True)


def _visit(ctx: Ctx, visit_id: int) -> Any:
    row = ctx.conn.execute(select(field_visits).where(field_visits.c.id == visit_id)).first()
    if row is None:
        raise NotFound(f"field visit {visit_id} not found")
    return row


def _refuse(problems: list[str]) -> None:
    if problems:
        raise InvalidInput("; ".join(problems))


def request_problems_of(ctx: Ctx, cases: list[Any]) -> dict[int, list[str]]:
    """What the field-visit rule (``domain.field_visits.request_problems``) has against a visit
    requested today on each case (rows of ``collection_cases``), by case id; an empty list: none.
    The one check behind an agent's request and the strategy's suggestion of a visit."""
    if not cases:
        return {}
    v = field_visits.c
    month_start = ctx.today.replace(day=1)
    this_month: dict[int, int] = {}
    addresses: dict[int, str | None] = {}
    for chunk in chunks(ctx.conn, [case.id for case in cases]):
        this_month |= dict(
            ctx.conn.execute(
                select(v.case_id, func.count())
                .where(
                    among(ctx.conn, v.case_id, chunk),
                    v.requested_on >= month_start,
                    v.status.not_in(("rejected", "cancelled")),
                )
                .group_by(v.case_id)
            ).all()
        )
    for chunk in chunks(ctx.conn, sorted({case.customer_id for case in cases})):
        addresses |= dict(
            ctx.conn.execute(
                select(customers.c.id, customers.c.address_enc).where(among(ctx.conn, customers.c.id, chunk))
            ).all()
        )
    return {
        case.id: request_problems(
            CaseFacts(
                case.status,
                case.bucket,
                case.overdue_amount,
                int(this_month.get(case.id, 0)),
                bool(addresses.get(case.customer_id)),
            ),
            ctx.settings.collections,
        )
        for case in cases
    }


def request_problems_by_id(ctx: Ctx, case_ids: list[int]) -> dict[int, list[str]]:
    """``request_problems_of`` for cases named by id (a case not found is left out): what an agent
    reading their queue asks before requesting a visit."""
    if not case_ids:
        return {}
    cases = ctx.conn.execute(select(collection_cases).where(collection_cases.c.id.in_(case_ids))).all()
    return request_problems_of(ctx, list(cases))


def request_visit(ctx: Ctx, case_id: int, agent_id: int, reason: str) -> dict[str, Any]:
    ctx.actor.require("agent", "specialist", "supervisor")
    acting_agent(ctx, agent_id, "agent", "specialist", "supervisor")
    if not reason.strip():
        raise InvalidInput("say why a visit is needed")
    case = visible_case(ctx, case_id)
    _refuse(request_problems_of(ctx, [case])[case.id])
    address = contact_of(ctx, case.customer_id).address
    v = field_visits.c
    visit_id = ctx.conn.execute(
        insert(field_visits)
        .values(
            case_id=case_id,
            customer_id=case.customer_id,
            status="requested",
            requested_by=agent_id,
            requested_on=ctx.today,
            reason=reason.strip(),
        )
        .returning(v.id)
    ).scalar_one()
    # where the visit goes, as registered now: sealed for this visit's row, so written once it has one
    sealed = ctx.settings.keys.seal(address, "field_visits", "address_enc", visit_id)
    ctx.conn.execute(field_visits.update().where(v.id == visit_id).values(address_enc=sealed))
    audit.record(
        ctx, f"customer:{case.customer_id}", "visit.requested", "visit", visit_id, None, {"case_id": case_id}
    )
    return get_visit(ctx, visit_id)


def approve_visit(
    ctx: Ctx, visit_id: int, supervisor_id: int, agent_a: int, agent_b: int, slot: datetime
) -> dict[str, Any]:
    """Approve with two field agents and a slot (aware, or naive meaning the customer's local
    time); the customer is told now, through the contact policy, or the approval is refused."""
    ctx.actor.require("supervisor")
    acting_agent(ctx, supervisor_id, "supervisor")
    visit = _visit(ctx, visit_id)
    if visit.status != "requested":
        raise InvalidState(f"visit {visit_id} is {visit.status}")
    case = ctx.conn.execute(select(collection_cases).where(collection_cases.c.id == visit.case_id)).one()
    customer = ctx.conn.execute(select(customers).where(customers.c.id == visit.customer_id)).one()
    zone = ZoneInfo(customer.timezone)
    local = slot.astimezone(zone) if slot.tzinfo else slot.replace(tzinfo=zone)
    roles = dict(
        ctx.conn.execute(
            select(collection_agents.c.id, collection_agents.c.role).where(
                collection_agents.c.id.in_((agent_a, agent_b)), collection_agents.c.active == 1
            )
        ).all()
    )
    _refuse(approval_problems(Crew(agent_a, agent_b, roles), local, ctx.today, ctx.settings.collections))
    at = local.astimezone(UTC)
    lock_account(ctx, visit.customer_id)  # the customer's contacts are judged one at a time
    # the slot itself must be one the contact policy allows (hours, flags), judged as of now
    facts = load_facts(ctx, [visit.customer_id], ctx.now)[visit.customer_id]
    slot_verdict = decide(ctx, _VISIT, at, facts)
    if not slot_verdict.allowed:
        raise Conflict(f"the slot is not allowed ({slot_verdict.rule}): {slot_verdict.reason}")
    template = book().templates["visit_notice_sms"]
    notice = request_for(template, template.channel, by_specialist=False)
    verdict = decide(ctx, notice, ctx.now, facts)
    row = attempt_row(
        ctx, visit.customer_id, notice, template.id, ctx.now, verdict, case.id, supervisor_id, "sent"
    )
    attempt_id = ctx.conn.execute(insert(contact_attempts).returning(contact_attempts.c.id), row).scalar_one()
    if not verdict.allowed:
        # the blocked notice stays on record; the visit waits for a notice that may go
        return {
            **get_visit(ctx, visit_id),
            "notice": {"sent": False, "rule": verdict.rule, "reason": verdict.reason},
        }
    ctx.conn.execute(
        field_visits.update()
        .where(field_visits.c.id == visit_id, field_visits.c.status == "requested")
        .values(
            status="approved",
            decided_by=supervisor_id,
            decided_on=ctx.today,
            agent_a=agent_a,
            agent_b=agent_b,
            slot_at=at,
            notice_attempt_id=attempt_id,
        )
    )
    audit.record(
        ctx,
        f"customer:{visit.customer_id}",
        "visit.approved",
        "visit",
        visit_id,
        {"status": "requested"},
        {"status": "approved", "slot": local.isoformat(), "agents": [agent_a, agent_b]},
    )
    text = book().render(
        template.id,
        customer.language,
        name=customer.name,
        dpd=case.dpd,
        amount=format_fen(case.overdue_amount),
        visit_date=local.strftime("%Y-%m-%d %H:%M"),
        hotline=HOTLINE,
    )
    return {**get_visit(ctx, visit_id), "notice": {"sent": True, "attempt_id": attempt_id, "text": text}}


def decline_visit(ctx: Ctx, visit_id: int, supervisor_id: int, reason: str) -> dict[str, Any]:
    """Reject a request, or cancel an approved visit (before its outcome)."""
    ctx.actor.require("supervisor")
    acting_agent(ctx, supervisor_id, "supervisor")
    if not reason.strip():
        raise InvalidInput("say why")
    visit = _visit(ctx, visit_id)
    if visit.status not in ("requested", "approved"):
        raise InvalidState(f"visit {visit_id} is {visit.status}")
    status = "rejected" if visit.status == "requested" else "cancelled"
    ctx.conn.execute(
        field_visits.update()
        .where(field_visits.c.id == visit_id)
        .values(status=status, decided_by=supervisor_id, decided_on=ctx.today)
    )
    audit.record(
        ctx,
        f"customer:{visit.customer_id}",
        f"visit.{status}",
        "visit",
        visit_id,
        None,
        {"reason": reason.strip()},
    )
    return get_visit(ctx, visit_id)


def record_outcome(
    ctx: Ctx,
    visit_id: int,
    agent_id: int,
    outcome: str,
    checklist: dict[str, bool],
    note: str = "",
    promise_amount: int | None = None,
    promise_date: date | None = None,
) -> dict[str, Any]:
    """The agents record what happened, on the day of the slot; the contact policy checks the
    visit now (a cease-contact request or a dispute since approval stops it)."""
    ctx.actor.require("field_agent")
    acting_agent(ctx, agent_id, "field_agent")
    visit = _visit(ctx, visit_id)
    if visit.status != "approved":
        raise InvalidState(f"visit {visit_id} is {visit.status}")
    if agent_id not in (visit.agent_a, visit.agent_b):
        raise Forbidden(f"agent {agent_id} is not assigned to visit {visit_id}")
    _refuse(outcome_problems(outcome, checklist))
    if outcome == "promise" and (promise_amount is None or promise_amount <= 0 or promise_date is None):
        raise InvalidInput("a promise needs an amount (fen, > 0) and a date")
    if outcome == "promise" and promise_date is not None and promise_date < ctx.today:
        raise InvalidInput("a promise date cannot be in the past")
    slot = aware(visit.slot_at)
    if ctx.now.astimezone(UTC).date() != slot.date() and ctx.today != slot.date():
        raise InvalidState(f"the visit is approved for {slot.isoformat()}, not today")
    lock_account(ctx, visit.customer_id)  # the customer's contacts are judged one at a time
    facts = load_facts(ctx, [visit.customer_id], ctx.now)[visit.customer_id]
    verdict = decide(ctx, _VISIT, ctx.now, facts)
    row = attempt_row(
        ctx,
        visit.customer_id,
        _VISIT,
        "field_visit",
        ctx.now,
        verdict,
        visit.case_id,
        agent_id,
        "reached" if outcome in ("met", "promise", "dispute", "refused") else "no_answer",
        note or None,
    )
    attempt_id = ctx.conn.execute(insert(contact_attempts).returning(contact_attempts.c.id), row).scalar_one()
    if not verdict.allowed:
        return {
            **get_visit(ctx, visit_id),
            "blocked": {"rule": verdict.rule, "reason": verdict.reason, "attempt_id": attempt_id},
        }
    cost = ctx.settings.collections.visit_cost
    if cost:
        post(ctx, postings.collection_cost(ctx.today, visit.customer_id, cost, f"field visit {visit_id}"))
    ctx.conn.execute(
        field_visits.update()
        .where(field_visits.c.id == visit_id)
        .values(status="done", outcome=outcome, checklist=checklist, cost=cost, completed_at=ctx.now)
    )
    if outcome == "promise":
        ctx.conn.execute(
            insert(promises).values(
                case_id=visit.case_id,
                customer_id=visit.customer_id,
                agent_id=agent_id,
                amount=promise_amount,
                made_on=ctx.today,
                due_on=promise_date,
                status="open",
                paid=0,
            )
        )
    if outcome == "dispute":
        # the field agent raises it for the customer they just met (set_flag is for desk staff)
        record_flag(ctx, visit.customer_id, "dispute", f"raised at field visit {visit_id}")
    audit.record(
        ctx,
        f"customer:{visit.customer_id}",
        "visit.done",
        "visit",
        visit_id,
        {"status": "approved"},
        {"outcome": outcome, "breaches": breaches(checklist), "cost": cost},
    )
    return get_visit(ctx, visit_id)


def get_visit(ctx: Ctx, visit_id: int) -> dict[str, Any]:
    v = _visit(ctx, visit_id)
    return {
        "id": v.id,
        "case_id": v.case_id,
        "customer_id": v.customer_id,
        "status": v.status,
        "requested_by": v.requested_by,
        "requested_on": v.requested_on.isoformat(),
        "reason": v.reason,
        "decided_by": v.decided_by,
        "agents": [a for a in (v.agent_a, v.agent_b) if a is not None],
        "slot_at": aware(v.slot_at).isoformat() if v.slot_at else None,
        "outcome": v.outcome,
        "checklist": v.checklist,
        "breaches": breaches(v.checklist or {}),
        "cost": v.cost,
    }


def visits_for(ctx: Ctx, agent_id: int) -> list[dict[str, Any]]:
    """A field agent's scheduled visits (approved, not yet done), soonest first."""
    acting_agent(ctx, agent_id)
    v = field_visits.c
    ids = ctx.conn.execute(
        select(v.id)
        .where(v.status == "approved", (v.agent_a == agent_id) | (v.agent_b == agent_id))
        .order_by(v.slot_at)
    ).scalars()
    return [get_visit(ctx, i) for i in ids]
