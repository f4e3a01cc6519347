"""An agent's day: the queue of open cases and tasks, one case with its history, promises to pay,
and a supervisor's reassignment. Contacts themselves go through ``collections.contacts``."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert, select

from bnpl.collections.contacts import acting_agent, aware, flags_of
from bnpl.domain.errors import Forbidden, InvalidInput, InvalidState
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.services.access import visible_case
from bnpl.services.parties import contact_of
from bnpl.store.tables import (
    collection_actions,
    collection_agents,
    collection_cases,
    contact_attempts,
    customers,
    field_visits,
    hardship_plans,
    promises,
)


def case_row(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "customer_id": row.customer_id,
        "status": row.status,
        "bucket": row.bucket,
        "segment": row.segment,
        "dpd": row.dpd,
        "overdue_amount": row.overdue_amount,
        "agent_id": row.agent_id,
        "opened_on": row.opened_on.isoformat(),
        "closed_on": row.closed_on.isoformat() if row.closed_on else None,
        "close_reason": row.close_reason,
        "agency_on": row.agency_on.isoformat() if row.agency_on else None,
    }


def queue(ctx: Ctx, agent_id: int | None, limit: int = 100) -> list[dict[str, Any]]:
    """Open cases of one agent (None: the unassigned ones, for a supervisor), worst first, each
    with its tasks queued for today or earlier."""
    ctx.actor.require("agent", "specialist", "supervisor")
    if ctx.actor.role in ("agent", "specialist") and agent_id != ctx.actor.subject_id:
        raise Forbidden("agents see their own queue")
    c = collection_cases.c
    where = c.agent_id == agent_id if agent_id is not None else c.agent_id.is_(None)
    rows = ctx.conn.execute(
        select(collection_cases)
        .where(c.status == "open", where)
        .order_by(c.dpd.desc(), c.overdue_amount.desc(), c.id)
        .limit(limit)
    ).all()
    a = collection_actions.c
    tasks: dict[int, list[dict[str, Any]]] = {}
    if rows:
        for t in ctx.conn.execute(
            select(collection_actions)
            .where(a.case_id.in_([r.id for r in rows]), a.status == "queued", a.business_date <= ctx.today)
            .order_by(a.id)
        ):
            tasks.setdefault(t.case_id, []).append(
                {
                    "id": t.id,
                    "action": t.action,
                    "channel": t.channel,
                    "template": t.template,
                    "since": t.business_date.isoformat(),
                }
            )
    return [{**case_row(r), "tasks": tasks.get(r.id, [])} for r in rows]


def case_view(ctx: Ctx, case_id: int) -> dict[str, Any]:
    """One case: the customer (contact data masked), contacts, promises, plans and visits."""
    case = visible_case(ctx, case_id)
    c = customers.c
    customer = ctx.conn.execute(select(c.id, c.name, c.timezone).where(c.id == case.customer_id)).one()
    contact = contact_of(ctx, case.customer_id)
    ca = contact_attempts.c
    contacts = [
        {
            "id": r.id,
            "at": aware(r.at).isoformat(),
            "channel": r.channel,
            "party": r.party,
            "template": r.template,
            "allowed": bool(r.allowed),
            "rule": r.rule,
            "outcome": r.outcome,
            "agent_id": r.agent_id,
        }
        for r in ctx.conn.execute(
            select(contact_attempts)
            .where(ca.customer_id == case.customer_id)
            .order_by(ca.id.desc())
            .limit(50)
        )
    ]
    p = promises.c
    return {
        **case_row(case),
        "customer": {
            "id": customer.id,
            "name": customer.name,
            "timezone": customer.timezone,
            "phone": mask(contact.phone),
            "address": mask(contact.address),
        },
        "flags": flags_of(ctx, case.customer_id),
        "contacts": contacts,
        "promises": [
            {
                "id": r.id,
                "amount": r.amount,
                "due_on": r.due_on.isoformat(),
                "status": r.status,
                "paid": r.paid,
            }
            for r in ctx.conn.execute(select(promises).where(p.case_id == case_id).order_by(p.id))
        ],
        "plans": [
            {"id": r.id, "kind": r.kind, "status": r.status, "instalments": r.instalments}
            for r in ctx.conn.execute(select(hardship_plans).where(hardship_plans.c.case_id == case_id))
        ],
        "visits": [
            {"id": r.id, "status": r.status, "outcome": r.outcome}
            for r in ctx.conn.execute(select(field_visits).where(field_visits.c.case_id == case_id))
        ],
    }


def mask(value: str | None) -> str | None:
    """Personal data shown masked by default: the first and last few characters only."""
    if not value:
        return value
    keep = 3 if len(value) >= 10 else 1
    return value[:keep] + "*" * max(len(value) - 2 * keep, 1) + value[-keep:]


def promise(ctx: Ctx, case_id: int, amount: int, due_on: date, agent_id: int | None = None) -> dict[str, Any]:
    """The customer promises to pay ``amount`` by ``due_on``: kept or broken by end of day."""
    ctx.actor.require("agent", "specialist", "supervisor")
    case = visible_case(ctx, case_id)
    if case.status != "open":
        raise InvalidState(f"case {case_id} is closed")
    if type(amount) is not int or amount <= 0:
        raise InvalidInput("a promise is a positive amount in fen")
    if not ctx.today <= due_on <= ctx.today + timedelta(days=31):
        raise InvalidInput("a promise date is between today and 31 days from now")
    promise_id = ctx.conn.execute(
        insert(promises)
        .values(
            case_id=case_id,
            customer_id=case.customer_id,
            agent_id=acting_agent(ctx, agent_id).id if agent_id is not None else ctx.actor.subject_id,
            amount=amount,
            made_on=ctx.today,
            due_on=due_on,
            status="open",
            paid=0,
        )
        .returning(promises.c.id)
    ).scalar_one()
    audit.record(
        ctx,
        f"customer:{case.customer_id}",
        "promise.made",
        "promise",
        promise_id,
        None,
        {"amount": amount, "due_on": due_on.isoformat()},
    )
    return {
        "id": promise_id,
        "case_id": case_id,
        "amount": amount,
        "due_on": due_on.isoformat(),
        "status": "open",
    }


def reassign(ctx: Ctx, case_id: int, agent_id: int, note: str) -> dict[str, Any]:
    ctx.actor.require("supervisor")
    case = visible_case(ctx, case_id)
    agent = ctx.conn.execute(select(collection_agents).where(collection_agents.c.id == agent_id)).first()
    if agent is None or not agent.active or agent.role not in ("agent", "specialist"):
        raise InvalidInput(f"agent {agent_id} is not an active agent or specialist")
    if case.status != "open":
        raise InvalidState(f"case {case_id} is closed")
    ctx.conn.execute(
        collection_cases.update().where(collection_cases.c.id == case_id).values(agent_id=agent_id)
    )
    audit.record(
        ctx,
        f"customer:{case.customer_id}",
        "case.reassigned",
        "case",
        case_id,
        {"agent_id": case.agent_id},
        {"agent_id": agent_id, "note": note},
    )
    return case_row(visible_case(ctx, case_id))
