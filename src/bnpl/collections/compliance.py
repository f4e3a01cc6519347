"""The compliance report for a date range: contacts made, contacts blocked and by which rule, field
visits and any conduct breach recorded — and the proof that no completed contact broke a rule.

The proof does not trust the verdict stored with each contact: it replays the append-only record of
each customer in the order it was written, with the flags in force when each attempt was judged,
through ``domain.contact_policy.replay`` — the same function, on the same derived history (local
days, local weeks, conversations with the customer, the latest contact on record), that the live
check runs. A contact made that the replay blocks broke a rule when it was made.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from typing import Any

from sqlalchemy import select

from bnpl.collections.contacts import aware, flags_from
from bnpl.domain.contact_policy import RULES, ContactRequest, Recorded, Verdict, lookback, replay
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
    proof = _recheck(ctx, [r for r in in_range if r.allowed])
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


def _recheck(ctx: Ctx, made: list[Any]) -> dict[str, Any]:
    """Replay the contact policy on every contact made, as of its moment."""
    verdicts = replayed(ctx, made)
    violations = [
        {"attempt_id": r.id, "rule": verdicts[r.id].rule, "reason": verdicts[r.id].reason}
        for r in made
        if not verdicts[r.id].allowed
    ]
    return {"contacts_rechecked": len(made), "violations": violations, "ok": not violations}


def replayed(ctx: Ctx, attempts: list[Any]) -> dict[int, Verdict]:
    """The replay's verdict on each of ``attempts`` (rows of ``contact_attempts``), by id: every
    customer's record is read back from the lookback before the earliest of them, in the order it was
    written, and judged attempt by attempt on what was made before it."""
    if not attempts:
        return {}
    ids = sorted({r.customer_id for r in attempts})
    wanted = {r.id for r in attempts}
    since = min(aware(r.at) for r in attempts) - lookback(ctx.settings.contact_policy)
    last = max(wanted)
    ca = contact_attempts.c
    record: dict[int, list[Any]] = defaultdict(list)
    zones: dict[int, str] = {}
    flags: dict[int, list[Any]] = defaultdict(list)
    for chunk in chunks(ctx.conn, ids):
        # every attempt any of them may have seen (a later-timed one included) and the attempts
        # themselves; nothing written after the last of them can have been seen
        for r in ctx.conn.execute(
            select(contact_attempts)
            .where(among(ctx.conn, ca.customer_id, chunk), ca.id <= last, ca.at >= since)
            .order_by(ca.id)
        ):
            record[r.customer_id].append(r)
        zones |= dict(
            ctx.conn.execute(
                select(customers.c.id, customers.c.timezone).where(among(ctx.conn, customers.c.id, chunk))
            ).all()
        )
        for f in ctx.conn.execute(
            select(customer_flags).where(among(ctx.conn, customer_flags.c.customer_id, chunk))
        ):
            flags[f.customer_id].append(f)
    out: dict[int, Verdict] = {}
    for cid, rows in record.items():
        verdicts = replay([_recorded(r, flags[cid]) for r in rows], zones[cid], ctx.settings.contact_policy)
        out |= {r.id: v for r, v in zip(rows, verdicts, strict=True) if r.id in wanted}
    return out


def _recorded(r: Any, flags: list[Any]) -> Recorded:
    decided = aware(r.decided_at)
    # the flags in force when the policy judged it (a flag set in that same instant came after:
    # a use case reads the flags before it records the contact), and the moments flags were set or
    # cleared by then (the record runs forward in time, so those were on record)
    kinds = {
        f.kind
        for f in flags
        if aware(f.opened_at) < decided and (f.closed_at is None or aware(f.closed_at) > decided)
    }
    changes = [aware(m) for f in flags for m in (f.opened_at, f.closed_at) if m is not None]
    return Recorded(
        ContactRequest(r.channel, r.party, r.purpose, bool(r.discloses_debt), bool(r.by_specialist)),
        aware(r.at),
        flags_from(kinds),
        bool(r.allowed),
        bool(r.reached),
        tuple(m for m in changes if m <= decided),
    )
