"""The compliance report for a date range: contacts made, contacts blocked and by which rule, field
visits and any conduct breach recorded — and the proof that no completed contact broke a rule.

The proof does not trust the verdict stored with each contact: it rebuilds, for every contact made,
what the policy would have seen at that moment (flags in force then, the attempts before it) from
the append-only records, and runs the one contact-policy function again.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from bnpl.collections.contacts import aware, flags_from
from bnpl.domain.contact_policy import RULES, ContactHistory, ContactRequest, check_contact
from bnpl.domain.errors import InvalidInput
from bnpl.domain.field_visits import breaches
from bnpl.runtime import Ctx
from bnpl.store.bulk import among, chunks
from bnpl.store.tables import contact_attempts, customer_flags, customers, field_visits


def report(ctx: Ctx, start: date, end: date) -> dict[str, Any]:
    ctx.actor.require("supervisor")
    if end < start:
        raise InvalidInput("the range ends before it starts")
    if (end - start).days > 366:
        raise InvalidInput("report at most a year at a time")
    ca = contact_attempts.c
    in_range = ctx.conn.execute(
        select(contact_attempts).where(ca.business_date >= start, ca.business_date <= end).order_by(ca.id)
    ).all()
    made = Counter((r.channel, r.party) for r in in_range if r.allowed)
    blocked = Counter(r.rule for r in in_range if not r.allowed)
    proof = _recheck(ctx, [r for r in in_range if r.allowed], start)
    v = field_visits.c
    visits = ctx.conn.execute(
        select(field_visits).where(v.requested_on <= end, (v.decided_on.is_(None)) | (v.decided_on >= start))
    ).all()
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "contacts_made": sum(made.values()),
        "made_by_channel": {f"{ch}/{party}": n for (ch, party), n in sorted(made.items())},
        "contacts_blocked": sum(blocked.values()),
        "blocked_by_rule": {
            rule: {"count": n, "rule": RULES[rule].title, "source": RULES[rule].source}
            for rule, n in sorted(blocked.items(), key=lambda kv: str(kv[0]))
            if rule in RULES
        },
        "field_visits": dict(Counter(r.status for r in visits)),
        "visit_outcomes": dict(Counter(r.outcome for r in visits if r.outcome)),
        "conduct_breaches": [
            {"visit_id": r.id, "case_id": r.case_id, "items": breaches(r.checklist)}
            for r in visits
            if r.checklist and breaches(r.checklist)
        ],
        "proof": proof,
    }


def _recheck(ctx: Ctx, made: list[Any], start: date) -> dict[str, Any]:
    """Run the contact policy again on every contact made, as of its moment."""
    ids = sorted({r.customer_id for r in made})
    ca = contact_attempts.c
    earlier: dict[int, list[Any]] = defaultdict(list)
    zones: dict[int, str] = {}
    flags: dict[int, list[Any]] = defaultdict(list)
    for chunk in chunks(ctx.conn, ids):
        for r in ctx.conn.execute(
            select(contact_attempts)
            .where(
                among(ctx.conn, ca.customer_id, chunk),
                ca.allowed == 1,
                ca.business_date >= start - timedelta(days=8),
            )
            .order_by(ca.id)
        ):
            earlier[r.customer_id].append(r)
        zones |= dict(
            ctx.conn.execute(
                select(customers.c.id, customers.c.timezone).where(among(ctx.conn, customers.c.id, chunk))
            ).all()
        )
        for f in ctx.conn.execute(
            select(customer_flags).where(among(ctx.conn, customer_flags.c.customer_id, chunk))
        ):
            flags[f.customer_id].append(f)
    violations = []
    for r in made:
        at, decided = aware(r.at), aware(r.decided_at)
        before = [e for e in earlier[r.customer_id] if e.id < r.id]
        # the flags in force when the policy judged it (a flag set in that same instant came after:
        # a use case reads the flags before it records the contact)
        kinds = {
            f.kind
            for f in flags[r.customer_id]
            if aware(f.opened_at) < decided and (f.closed_at is None or aware(f.closed_at) > decided)
        }
        today = Counter(e.channel for e in before if e.business_date == r.business_date)
        calls = [e for e in before if e.channel == "call" and e.party == "customer"]
        talks = [aware(e.at) for e in calls if e.reached]
        history = ContactHistory(
            today_by_channel=dict(today),
            calls_last_7_days=sum(1 for e in calls if at - timedelta(days=7) < aware(e.at) <= at),
            last_conversation_at=max(talks) if talks else None,
        )
        request = ContactRequest(r.channel, r.party, r.purpose, bool(r.discloses_debt), bool(r.by_specialist))
        verdict = check_contact(
            request,
            at,
            zones[r.customer_id],
            flags_from(kinds),
            history,
            ctx.settings.contact_policy,
        )
        if not verdict.allowed:
            violations.append({"attempt_id": r.id, "rule": verdict.rule, "reason": verdict.reason})
    return {"contacts_rechecked": len(made), "violations": violations, "ok": not violations}
