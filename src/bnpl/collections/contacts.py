"""Every contact with a customer goes through here: the facts the contact policy needs are read
(the customer's time zone, the flags in force, the contacts made recently), the one policy function
decides, and the attempt is recorded — made or blocked, with the rule that blocked it. Records are
append-only; notes annotate them.

What the rules count (per local day, per local week, the last conversation, the latest contact on
record) is not counted here: the contacts made are handed to
``domain.contact_policy.check_with_record``, the function the compliance proof replays, so the live
check and the proof cannot count differently.

Automated sends at end of day use the bulk form (:func:`load_facts` for many customers at once);
agents use :func:`contact` one at a time. Both decide through :func:`decide`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from bnpl.collections.strategy import StrategyBook, Template, load_book
from bnpl.domain.contact_policy import (
    VULNERABILITIES,
    ContactPolicy,
    ContactRequest,
    CustomerFlags,
    PastContact,
    Verdict,
    check_with_record,
    lookback,
)
from bnpl.domain.errors import Forbidden, InvalidInput, NotFound
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.services.access import may_see_customer, visible_case
from bnpl.services.credit_lines import lock_account
from bnpl.store.bulk import among, chunks
from bnpl.store.tables import (
    collection_actions,
    collection_agents,
    contact_attempts,
    customer_flags,
    customers,
    field_visits,
    record_notes,
)

FLAG_KINDS = ("cease_contact", "dispute", *VULNERABILITIES)
OUTCOMES = ("reached", "no_answer", "left_message", "wrong_number", "refused", "sent")
SEND_AT = time(10, 0)  # automated sends go out at 10:00 the customer's local time


@cache
def book() -> StrategyBook:
    """The packaged strategy book, loaded once."""
    return load_book()


def flags_from(kinds: set[str]) -> CustomerFlags:
    """The policy's view of the flags in force (``customer_flags.kind`` values)."""
    return CustomerFlags(
        cease_contact="cease_contact" in kinds,
        dispute_open="dispute" in kinds,
        vulnerable=frozenset(kinds & set(VULNERABILITIES)),
    )


def policy(ctx: Ctx) -> ContactPolicy:
    return ctx.settings.contact_policy


@dataclass(frozen=True, slots=True)
class Facts:
    timezone: str
    flags: CustomerFlags  # in force now
    made: tuple[PastContact, ...]  # contacts made since the load's lookback, in the order recorded
    flag_changes: tuple[datetime, ...]  # when each of the customer's flags was set or cleared

    @property
    def latest_entry(self) -> datetime | None:
        """The latest moment on the customer's record: a contact made, a flag set or cleared."""
        return max([*(p.at for p in self.made), *self.flag_changes], default=None)


def load_facts(ctx: Ctx, customer_ids: list[int], since: datetime) -> dict[int, Facts]:
    """What the policy needs for each customer, for contacts at or after ``since``: the contacts made
    from the policy's lookback before it onwards (and every one timed later, however far ahead)."""
    ca = contact_attempts.c
    start = since - lookback(policy(ctx))
    out: dict[int, Facts] = {}
    for ids in chunks(ctx.conn, customer_ids):
        zones = dict(
            ctx.conn.execute(
                select(customers.c.id, customers.c.timezone).where(among(ctx.conn, customers.c.id, ids))
            ).all()
        )
        f = customer_flags.c
        flags: dict[int, set[str]] = defaultdict(set)
        changes: dict[int, list[datetime]] = defaultdict(list)
        for flag in ctx.conn.execute(
            select(f.customer_id, f.kind, f.opened_at, f.closed_at).where(among(ctx.conn, f.customer_id, ids))
        ):
            if flag.closed_at is None:
                flags[flag.customer_id].add(flag.kind)
            changes[flag.customer_id] += [aware(m) for m in (flag.opened_at, flag.closed_at) if m is not None]
        made: dict[int, list[PastContact]] = defaultdict(list)
        for row in ctx.conn.execute(
            select(ca.customer_id, ca.at, ca.channel, ca.party, ca.reached)
            .where(among(ctx.conn, ca.customer_id, ids), ca.allowed == 1, ca.at >= start)
            .order_by(ca.id)
        ):
            past = PastContact(aware(row.at), row.channel, row.party, bool(row.reached))
            made[row.customer_id].append(past)
        for cid in ids:
            if cid in zones:
                out[cid] = Facts(
                    zones[cid],
                    flags_from(flags.get(cid, set())),
                    tuple(made.get(cid, ())),
                    tuple(changes.get(cid, ())),
                )
    return out


def decide(ctx: Ctx, request: ContactRequest, at: datetime, facts: Facts) -> Verdict:
    """The contact policy's verdict on ``request`` at ``at``, from the customer's facts."""
    return check_with_record(
        request, at, facts.timezone, facts.flags, facts.made, policy(ctx), facts.flag_changes
    )


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite hands back naive UTC


def send_time(ctx: Ctx, timezone: str) -> datetime:
    """When an automated send goes out: 10:00 on the business date in the customer's time zone."""
    return datetime.combine(ctx.today, SEND_AT, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def request_for(template: Template, channel: str, by_specialist: bool) -> ContactRequest:
    """The template says who is contacted, why, and whether it tells of the debt."""
    return ContactRequest(
        channel=channel,
        party=template.party,
        purpose=template.purpose,
        discloses_debt=template.discloses_debt,
        by_specialist=by_specialist,
    )


def attempt_row(
    ctx: Ctx,
    customer_id: int,
    request: ContactRequest,
    template_id: str,
    at: datetime,
    verdict: Verdict,
    case_id: int | None = None,
    agent_id: int | None = None,
    outcome: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "case_id": case_id,
        "agent_id": agent_id,
        "channel": request.channel,
        "party": request.party,
        "purpose": request.purpose,
        "template": template_id,
        "discloses_debt": int(request.discloses_debt),
        "by_specialist": int(request.by_specialist),
        "at": at,
        "decided_at": ctx.now,
        "business_date": ctx.today,
        "allowed": int(verdict.allowed),
        "rule": verdict.rule,
        "reason": verdict.reason[:300],
        "outcome": outcome if verdict.allowed else None,
        "reached": int(verdict.allowed and outcome == "reached"),
        "note": note,
    }


# --- agents' contacts ----------------------------------------------------------------------------


STAFF = ("agent", "specialist", "field_agent", "supervisor")


def acting_agent(ctx: Ctx, agent_id: int, *roles: str) -> Any:
    """The agent named, active, in one of ``roles`` (any when none) — and the caller themself,
    unless the caller is an admin acting for them."""
    ctx.actor.require(*STAFF)
    row = ctx.conn.execute(select(collection_agents).where(collection_agents.c.id == agent_id)).first()
    if row is None or not row.active:
        raise NotFound(f"agent {agent_id} not found")
    if ctx.actor.role != "admin" and ctx.actor.subject_id != agent_id:
        raise Forbidden("agents act only as themselves")
    if roles and row.role not in roles:
        raise Forbidden(f"agent {agent_id} is a {row.role}; this needs a {' or '.join(roles)}")
    return row


def check(ctx: Ctx, case_id: int, agent_id: int, template_id: str) -> dict[str, Any]:
    """Would this contact be allowed now? (Nothing is recorded: ask before dialling.)"""
    case, agent = visible_case(ctx, case_id), acting_agent(ctx, agent_id)
    template = _template(template_id)
    request = request_for(template, template.channel, agent.role == "specialist")
    facts = load_facts(ctx, [case.customer_id], ctx.now)[case.customer_id]
    verdict = decide(ctx, request, ctx.now, facts)
    return {"allowed": verdict.allowed, "rule": verdict.rule, "reason": verdict.reason}


def _template(template_id: str) -> Template:
    template = book().templates.get(template_id)
    if template is None:
        known = ", ".join(sorted(book().templates))
        raise InvalidInput(f"unknown template {template_id!r}; templates are {known}")
    return template


def contact(
    ctx: Ctx, case_id: int, agent_id: int, template_id: str, outcome: str, note: str = ""
) -> dict[str, Any]:
    """An agent's contact on a case: the policy runs first. A blocked contact is recorded with
    its rule and did not happen; an allowed one is recorded with its outcome."""
    ctx.actor.require("agent", "specialist", "supervisor")
    if outcome not in OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}")
    case, agent = visible_case(ctx, case_id), acting_agent(ctx, agent_id, "agent", "specialist", "supervisor")
    if case.status != "open":
        raise InvalidInput(f"case {case_id} is closed ({case.close_reason})")
    template = _template(template_id)
    request = request_for(template, template.channel, agent.role == "specialist")
    # two agents calling at once must not both pass a cap: one customer's contacts are judged one at
    # a time, so the record's order is the order they were judged in (what the proof replays)
    lock_account(ctx, case.customer_id)
    facts = load_facts(ctx, [case.customer_id], ctx.now)[case.customer_id]
    verdict = decide(ctx, request, ctx.now, facts)
    row = attempt_row(
        ctx,
        case.customer_id,
        request,
        template_id,
        ctx.now,
        verdict,
        case.id,
        agent.id,
        outcome,
        note or None,
    )
    attempt_id = ctx.conn.execute(insert(contact_attempts).returning(contact_attempts.c.id), row).scalar_one()
    if verdict.allowed:  # the case's queued tasks on this channel are worked
        a = collection_actions.c
        ctx.conn.execute(
            collection_actions.update()
            .where(a.case_id == case.id, a.channel == request.channel, a.status == "queued")
            .values(status="done", attempt_id=attempt_id)
        )
    return get_attempt(ctx, attempt_id)


def get_attempt(ctx: Ctx, attempt_id: int) -> dict[str, Any]:
    row = ctx.conn.execute(select(contact_attempts).where(contact_attempts.c.id == attempt_id)).first()
    if row is None:
        raise NotFound(f"contact attempt {attempt_id} not found")
    notes = ctx.conn.execute(
        select(record_notes)
        .where(record_notes.c.record == "contact", record_notes.c.record_id == attempt_id)
        .order_by(record_notes.c.id)
    ).all()
    return {
        "id": row.id,
        "customer_id": row.customer_id,
        "case_id": row.case_id,
        "agent_id": row.agent_id,
        "channel": row.channel,
        "party": row.party,
        "purpose": row.purpose,
        "template": row.template,
        "at": aware(row.at).isoformat(),
        "allowed": bool(row.allowed),
        "rule": row.rule,
        "reason": row.reason,
        "outcome": row.outcome,
        "note": row.note,
        "notes": [{"author": n.author, "at": aware(n.at).isoformat(), "text": n.text} for n in notes],
    }


def annotate(ctx: Ctx, record: str, record_id: int, text: str) -> dict[str, Any]:
    """Records are never edited: a correction or a later fact is a note beside them."""
    ctx.actor.require(*STAFF)
    if record not in ("contact", "visit"):
        raise InvalidInput("notes annotate a contact or a visit")
    table = contact_attempts if record == "contact" else field_visits
    owner = ctx.conn.execute(select(table.c.case_id).where(table.c.id == record_id)).first()
    if owner is None:
        raise NotFound(f"{record} {record_id} not found")
    if owner.case_id is not None and ctx.actor.role in ("agent", "specialist"):
        visible_case(ctx, owner.case_id)
    if not text.strip():
        raise InvalidInput("a note needs text")
    ctx.conn.execute(
        insert(record_notes).values(
            record=record, record_id=record_id, author=str(ctx.actor), at=ctx.now, text=text.strip()
        )
    )
    return {"record": record, "record_id": record_id, "author": str(ctx.actor), "text": text.strip()}


# --- flags -------------------------------------------------------------------------------------


def set_flag(ctx: Ctx, customer_id: int, kind: str, note: str, order_id: int | None = None) -> dict[str, Any]:
    """Record a cease-contact request, an open dispute or a vulnerability (in force until cleared)."""
    ctx.actor.require("agent", "supervisor", "customer")
    if ctx.actor.role == "customer" and (
        ctx.actor.subject_id != customer_id or kind not in ("cease_contact", "dispute")
    ):
        raise NotFound(f"customer {customer_id} not found")
    may_see_customer(ctx, customer_id)  # an agent flags only the customers of their own cases
    return record_flag(ctx, customer_id, kind, note, order_id)


def record_flag(
    ctx: Ctx, customer_id: int, kind: str, note: str, order_id: int | None = None
) -> dict[str, Any]:
    """Write a flag, the caller already checked (``set_flag``; a field visit's recorded dispute)."""
    if kind not in FLAG_KINDS:
        raise InvalidInput(f"flag must be one of {', '.join(FLAG_KINDS)}")
    if not note.strip():
        raise InvalidInput("say why (a note is kept with the flag)")
    if ctx.conn.execute(select(customers.c.id).where(customers.c.id == customer_id)).first() is None:
        raise NotFound(f"customer {customer_id} not found")
    flag_id = ctx.conn.execute(
        insert(customer_flags)
        .values(customer_id=customer_id, kind=kind, order_id=order_id, note=note.strip(), opened_at=ctx.now)
        .returning(customer_flags.c.id)
    ).scalar_one()
    audit.record(
        ctx,
        f"customer:{customer_id}",
        "flag.set",
        "flag",
        flag_id,
        None,
        {"kind": kind, "order_id": order_id},
    )
    return {"id": flag_id, "customer_id": customer_id, "kind": kind, "order_id": order_id}


def clear_flag(ctx: Ctx, flag_id: int, note: str) -> dict[str, Any]:
    ctx.actor.require("supervisor")
    f = customer_flags.c
    row = ctx.conn.execute(select(customer_flags).where(f.id == flag_id)).first()
    if row is None or row.closed_at is not None:
        raise NotFound(f"flag {flag_id} not found or already cleared")
    if not note.strip():
        raise InvalidInput("say why the flag is cleared")
    ctx.conn.execute(customer_flags.update().where(f.id == flag_id).values(closed_at=ctx.now))
    audit.record(
        ctx,
        f"customer:{row.customer_id}",
        "flag.cleared",
        "flag",
        flag_id,
        {"kind": row.kind},
        {"note": note},
    )
    return {"id": flag_id, "kind": row.kind, "cleared": True}


def flags_of(ctx: Ctx, customer_id: int) -> list[dict[str, Any]]:
    f = customer_flags.c
    return [
        {"id": r.id, "kind": r.kind, "order_id": r.order_id, "note": r.note, "in_force": r.closed_at is None}
        for r in ctx.conn.execute(select(customer_flags).where(f.customer_id == customer_id).order_by(f.id))
    ]
