"""Collection cases: opened when an account goes overdue, moved with its bucket, closed on cure,
plan, settlement or charge-off; assigned to agents by skill and load; promises to pay kept or
broken from the payments that came in.

End of day (``bnpl.eod.collections``) runs :func:`settle_promises` and :func:`sync_cases` in one
transaction, after the day's ageing. Every change
is a comparison between the book and what it should be, so running it twice changes nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import bindparam, func, insert, select

from bnpl.collections.strategy import segment_for
from bnpl.domain.contact_policy import VULNERABILITIES
from bnpl.domain.errors import InvalidInput, NotFound
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.services.repayments import paid_between
from bnpl.store.bulk import among, chunks, insert_rows
from bnpl.store.tables import (
    account_ageing,
    collection_actions,
    collection_agents,
    collection_cases,
    credit_accounts,
    credit_profiles,
    customer_flags,
    hardship_plans,
    promises,
)

AGENT_ROLES = ("agent", "field_agent", "specialist", "supervisor")


def _in_chunks(ctx: Ctx, query_for: Any, ids: list[int]) -> list[Any]:
    rows: list[Any] = []
    for chunk in chunks(ctx.conn, ids):
        rows += ctx.conn.execute(query_for(chunk)).all()
    return rows


def vulnerable_customers(ctx: Ctx, customer_ids: list[int]) -> set[int]:
    f = customer_flags.c
    return {
        r.customer_id
        for r in _in_chunks(
            ctx,
            lambda ids: select(f.customer_id).where(
                among(ctx.conn, f.customer_id, ids), f.kind.in_(VULNERABILITIES), f.closed_at.is_(None)
            ),
            customer_ids,
        )
    }


# --- agents and assignment -----------------------------------------------------------------------


def create_agent(ctx: Ctx, name: str, role: str, skills: list[str]) -> dict[str, Any]:
    ctx.actor.require("admin")
    if not name.strip():
        raise InvalidInput("an agent needs a name")
    if role not in AGENT_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(AGENT_ROLES)}")
    bad = [s for s in skills if s not in ("M1", "M2", "M3", "M3+")]
    if bad:
        raise InvalidInput(f"unknown skill {bad[0]!r}; skills are buckets M1, M2, M3, M3+")
    agent_id = ctx.conn.execute(
        insert(collection_agents)
        .values(name=name.strip(), role=role, skills=sorted(skills), active=1, created_at=ctx.now)
        .returning(collection_agents.c.id)
    ).scalar_one()
    audit.record(
        ctx, "collections", "agent.created", "agent", agent_id, None, {"role": role, "skills": skills}
    )
    return get_agent(ctx, agent_id)


def get_agent(ctx: Ctx, agent_id: int) -> dict[str, Any]:
    row = ctx.conn.execute(select(collection_agents).where(collection_agents.c.id == agent_id)).first()
    if row is None:
        raise NotFound(f"agent {agent_id} not found")
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "skills": list(row.skills),
        "active": bool(row.active),
    }


def list_agents(ctx: Ctx) -> list[dict[str, Any]]:
    load = _loads(ctx)
    return [
        {**get_agent(ctx, r.id), "open_cases": load.get(r.id, 0)}
        for r in ctx.conn.execute(select(collection_agents.c.id).order_by(collection_agents.c.id))
    ]


def _loads(ctx: Ctx) -> Counter[int]:
    c = collection_cases.c
    rows = ctx.conn.execute(
        select(c.agent_id, func.count())
        .where(c.status == "open", c.agent_id.is_not(None))
        .group_by(c.agent_id)
    ).all()
    return Counter({agent_id: n for agent_id, n in rows})


class Assigner:
    """Least-loaded agent whose skills cover the case's bucket; specialists for vulnerable customers."""

    def __init__(self, ctx: Ctx) -> None:
        self.agents = ctx.conn.execute(
            select(collection_agents).where(
                collection_agents.c.active == 1, collection_agents.c.role.in_(("agent", "specialist"))
            )
        ).all()
        self.load = _loads(ctx)

    def pick(self, bucket: str, vulnerable: bool) -> int | None:
        role = "specialist" if vulnerable else "agent"
        fits = [a for a in self.agents if a.role == role and (not a.skills or bucket in a.skills)]
        if not fits:
            return None  # unassigned: the supervisor's queue
        chosen = min(fits, key=lambda a: (self.load[a.id], a.id))
        self.load[chosen.id] += 1
        return int(chosen.id)

    def covers(self, agent_id: int | None, bucket: str, vulnerable: bool) -> bool:
        """Whether the agent may keep the case: the bucket's skill, and a specialist for a
        vulnerable customer (calls by anyone else would be blocked by the contact policy)."""
        roles = ("specialist",) if vulnerable else ("agent", "specialist")
        return any(
            a.id == agent_id and a.role in roles and (not a.skills or bucket in a.skills) for a in self.agents
        )

    def move(self, old: int | None, new: int | None) -> None:
        if old is not None and old != new:
            self.load[old] -= 1


# --- the end-of-day pass -------------------------------------------------------------------------


def sync_cases(ctx: Ctx) -> dict[str, int]:
    """Open, move and close cases so they match today's ageing."""
    today = ctx.today
    # an account charged off today is still in today's ageing (aged before the write-off), but
    # there is nothing left to collect: its case closes today, as charged off
    ageing = {
        r.customer_id: r
        for r in ctx.conn.execute(
            select(account_ageing)
            .join(credit_accounts, credit_accounts.c.customer_id == account_ageing.c.customer_id)
            .where(account_ageing.c.business_date == today, credit_accounts.c.state != "charged_off")
        )
    }
    c = collection_cases.c
    open_cases = {
        r.customer_id: r for r in ctx.conn.execute(select(collection_cases).where(c.status == "open"))
    }
    new_ids = sorted(ageing.keys() - open_cases.keys())
    grades = dict(
        _in_chunks(
            ctx,
            lambda ids: select(credit_profiles.c.customer_id, credit_profiles.c.grade).where(
                among(ctx.conn, credit_profiles.c.customer_id, ids)
            ),
            new_ids,
        )
    )
    vulnerable = vulnerable_customers(ctx, sorted(ageing))
    assigner = Assigner(ctx)
    opened = [
        {
            "customer_id": cid,
            "status": "open",
            "bucket": ageing[cid].bucket,
            "segment": segment_for(grades.get(cid)),
            "dpd": ageing[cid].dpd,
            "overdue_amount": ageing[cid].overdue_amount,
            "agent_id": assigner.pick(ageing[cid].bucket, cid in vulnerable),
            "opened_on": today,
            "updated_on": today,
        }
        for cid in new_ids
    ]
    if opened:
        insert_rows(ctx.conn, collection_cases, opened)
    moved = []
    for cid, case in open_cases.items():
        now = ageing.get(cid)
        if now is None:
            continue
        agent = case.agent_id
        if not assigner.covers(agent, now.bucket, cid in vulnerable):
            agent = assigner.pick(now.bucket, cid in vulnerable)
            assigner.move(case.agent_id, agent)
        if (now.dpd, now.overdue_amount, agent) == (case.dpd, case.overdue_amount, case.agent_id):
            continue
        moved.append(
            {"cid": case.id, "b": now.bucket, "d": now.dpd, "a": now.overdue_amount, "g": agent, "t": today}
        )
    if moved:
        ctx.conn.execute(
            collection_cases.update()
            .where(c.id == bindparam("cid"))
            .values(
                bucket=bindparam("b"),
                dpd=bindparam("d"),
                overdue_amount=bindparam("a"),
                agent_id=bindparam("g"),
                updated_on=bindparam("t"),
            ),
            moved,
        )
    closing = sorted(open_cases.keys() - ageing.keys())
    closed = _close(ctx, [open_cases[cid] for cid in closing])
    return {"opened": len(opened), "moved": len(moved), **closed}


def _close(ctx: Ctx, cases: list[Any]) -> dict[str, int]:
    """Close cases no longer overdue, each with why: charged off, a plan or settlement, or cured."""
    if not cases:
        return {"closed": 0}
    ids = [case.customer_id for case in cases]
    charged = {
        r.customer_id
        for r in _in_chunks(
            ctx,
            lambda chunk: select(credit_accounts.c.customer_id).where(
                among(ctx.conn, credit_accounts.c.customer_id, chunk),
                credit_accounts.c.state == "charged_off",
            ),
            ids,
        )
    }
    h = hardship_plans.c
    resolved = dict(
        _in_chunks(
            ctx,
            lambda chunk: select(h.case_id, h.kind).where(
                among(ctx.conn, h.case_id, chunk), h.status == "done"
            ),
            [case.id for case in cases],
        )
    )
    rows, records = [], []
    for case in cases:
        reason = "charged_off" if case.customer_id in charged else resolved.get(case.id, "cured")
        rows.append({"cid": case.id, "r": reason, "t": ctx.today})
        records.append(
            (f"customer:{case.customer_id}", "case.closed", "case", case.id, None, {"reason": reason})
        )
    ctx.conn.execute(
        collection_cases.update()
        .where(collection_cases.c.id == bindparam("cid"))
        .values(
            status="closed", close_reason=bindparam("r"), closed_on=bindparam("t"), updated_on=bindparam("t")
        ),
        rows,
    )
    audit.record_many(ctx, records)
    counts = Counter(r["r"] for r in rows)
    return {"closed": len(rows), **{f"closed_{k}": v for k, v in sorted(counts.items())}}


def settle_promises(ctx: Ctx) -> dict[str, int]:
    """A promise is kept once the payments since it was made reach its amount; broken when its
    date passes short of that. A broken promise escalates: a task in the case's queue."""
    p = promises.c
    live = ctx.conn.execute(select(promises).where(p.status == "open")).all()
    kept, broken, escalations = [], [], []
    for promise in live:
        paid = paid_between(ctx, promise.customer_id, promise.made_on, min(ctx.today, promise.due_on))
        if paid >= promise.amount:
            kept.append({"pid": promise.id, "st": "kept", "paid": paid, "t": ctx.today})
        elif ctx.today > promise.due_on:
            broken.append({"pid": promise.id, "st": "broken", "paid": paid, "t": ctx.today})
            escalations.append(
                {
                    "business_date": ctx.today,
                    "customer_id": promise.customer_id,
                    "case_id": promise.case_id,
                    "action": "escalate",
                    "channel": "call",
                    "template": "",
                    "status": "queued",
                }
            )
    if kept or broken:
        ctx.conn.execute(
            promises.update()
            .where(p.id == bindparam("pid"))
            .values(status=bindparam("st"), paid=bindparam("paid"), resolved_on=bindparam("t")),
            kept + broken,
        )
    if escalations:
        ctx.conn.execute(insert(collection_actions), escalations)
    return {"promises_kept": len(kept), "promises_broken": len(broken)}
