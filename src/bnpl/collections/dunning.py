"""The strategy's day: pre-due reminders and the actions each overdue case's bucket and segment
call for today. Automated messages (push, SMS, e-mail, letters) are sent here through the contact
policy, blocked ones recorded with their rule; calls and field-visit suggestions become tasks in the
case's queue; agency placement is marked on the case. Runs once per business date (end of day).

A field visit is suggested only when a request for one would be allowed today, by the same check the
request makes (``visits.request_problems_of``); otherwise the step is recorded as skipped in the
case's schedule and the rule's reasons go to the case's audit stream. A visit the rules refuse (too
little overdue, the month's visits used, no address) is not replaced by another action: the book's
calls and letters around it still run.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from bnpl.collections.contacts import Facts, attempt_row, book, load_facts, request_for, send_time
from bnpl.collections.strategy import SEGMENTS, Step, segment_for
from bnpl.collections.visits import request_problems_of
from bnpl.domain.contact_policy import PastContact, check_with_record, local_day
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.store.bulk import among, chunks, insert_rows
from bnpl.store.frames import as_date
from bnpl.store.tables import (
    account_ageing,
    collection_actions,
    collection_cases,
    contact_attempts,
    credit_profiles,
    obligations,
)

AUTOMATED = ("push", "sms", "email", "letter")
TASKS = ("call", "field_visit")


def _reminder_targets(ctx: Ctx) -> dict[int, int]:
    """Customers with an instalment due in the days the pre-due steps name: customer → days to due
    (the nearest one)."""
    days = sorted({-s.day for seg in SEGMENTS for s in book().steps_for("pre_due", seg)})
    dates = [ctx.today + timedelta(days=d) for d in days]
    o = obligations.c
    rows = ctx.conn.execute(
        select(o.customer_id, func.min(o.due_date))
        .where(o.status == "open", o.kind == "instalment", o.due_date.in_(dates))
        .group_by(o.customer_id)
    ).all()
    return {cid: (as_date(due) - ctx.today).days for cid, due in rows}


def run_strategy(ctx: Ctx) -> dict[str, Any]:
    strategy = book()
    cases = {
        r.customer_id: r
        for r in ctx.conn.execute(select(collection_cases).where(collection_cases.c.status == "open"))
    }
    dpd = dict(
        ctx.conn.execute(
            select(account_ageing.c.customer_id, account_ageing.c.dpd).where(
                account_ageing.c.business_date == ctx.today
            )
        ).all()
    )
    reminders = {cid: d for cid, d in _reminder_targets(ctx).items() if cid not in dpd}
    grades: dict[int, str | None] = {}
    ids = sorted(reminders)
    for chunk in chunks(ctx.conn, ids):
        grades |= dict(
            ctx.conn.execute(
                select(credit_profiles.c.customer_id, credit_profiles.c.grade).where(
                    among(ctx.conn, credit_profiles.c.customer_id, chunk)
                )
            ).all()
        )
    todo: list[tuple[int, Step]] = []
    for cid, days in sorted(reminders.items()):
        todo += [(cid, s) for s in strategy.reminders_due(days, segment_for(grades.get(cid)))]
    for cid, d in sorted(dpd.items()):
        case = cases.get(cid)
        if case is not None:
            todo += [(cid, s) for s in strategy.due_today(d, case.segment)]
    customers = sorted({cid for cid, _ in todo})
    # 10:00 on the business date anywhere on earth (UTC-12 to UTC+14) is after this moment
    since = datetime.combine(ctx.today - timedelta(days=1), time(), tzinfo=UTC)
    facts = load_facts(ctx, customers, since) if customers else {}
    made = {cid: list(f.made) for cid, f in facts.items()}  # grows with the day's sends
    visit_cases = {cases[cid].id: cases[cid] for cid, s in todo if s.action == "field_visit" and cid in cases}
    visit_problems = request_problems_of(ctx, list(visit_cases.values()))
    attempts: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    agency: list[int] = []
    skipped: list[tuple[str, str, str, object, dict[str, Any] | None, dict[str, Any] | None]] = []
    for cid, step in todo:
        case = cases.get(cid)
        case_id = case.id if case is not None else None
        base = {"business_date": ctx.today, "customer_id": cid, "case_id": case_id, "action": step.action}
        base |= {"channel": step.channel, "template": step.template}
        if step.channel in AUTOMATED and cid in facts:
            f = facts[cid]
            at = _send_at(ctx, f)
            request = request_for(strategy.templates[step.template], step.channel, by_specialist=False)
            policy = ctx.settings.contact_policy
            verdict = check_with_record(request, at, f.timezone, f.flags, made[cid], policy, f.flag_changes)
            if verdict.allowed:
                made[cid].append(PastContact(at, request.channel, request.party))
            attempts.append(attempt_row(ctx, cid, request, step.template, at, verdict, case_id, None, "sent"))
            actions.append(
                {**base, "status": "sent" if verdict.allowed else "blocked", "attempt": len(attempts) - 1}
            )
        elif step.action == "field_visit" and case is not None and visit_problems[case.id]:
            # the agent is not told to ask for what the field-visit rule would refuse
            actions.append({**base, "status": "skipped"})
            why = {"action": step.action, "day": step.day, "problems": visit_problems[case.id]}
            skipped.append((f"customer:{cid}", "strategy.step_skipped", "case", case.id, None, why))
        elif step.action in TASKS and case_id is not None:
            actions.append({**base, "status": "queued"})
        elif step.action == "agency" and case is not None and case.agency_on is None:
            agency.append(case.id)
            actions.append({**base, "status": "done"})
    ids_of = insert_rows(ctx.conn, contact_attempts, attempts, ids=True)
    rows = []
    for a in actions:
        index = a.pop("attempt", None)
        rows.append({**a, "attempt_id": ids_of[index] if index is not None else None})
    insert_rows(ctx.conn, collection_actions, rows)
    audit.record_many(ctx, skipped)
    for chunk in chunks(ctx.conn, agency):
        ctx.conn.execute(
            collection_cases.update()
            .where(among(ctx.conn, collection_cases.c.id, chunk))
            .values(agency_on=ctx.today)
        )
    status: dict[str, int] = defaultdict(int)
    for r in rows:
        status[r["status"]] += 1
    return {"version": strategy.version, **dict(sorted(status.items())), "blocked_by": _blocked_by(attempts)}


def _send_at(ctx: Ctx, facts: Facts) -> datetime:
    """Automated sends go at 10:00 the customer's local time on the business date — or, when the
    customer's record has a later entry that local day (an agent's call at 11:00, a dispute closed at
    15:00, recorded before end of day), at that moment: a send is never timed before what is on
    record, and is judged on the record as it stands then."""
    at, latest = send_time(ctx, facts.timezone), facts.latest_entry
    if latest is not None and latest > at and local_day(latest, facts.timezone) == ctx.today:
        return latest
    return at  # a contact on a later local day: the send is refused as back-dated, and recorded so


def _blocked_by(attempts: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for a in attempts:
        if not a["allowed"]:
            out[a["rule"]] += 1
    return dict(sorted(out.items()))
