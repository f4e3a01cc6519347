"""The end-of-day application of the account-state policy (``domain.account_policy``).

Set-based, in one transaction: the candidates are the lines with a bill past due today (from the
day's ageing) and the lines the policy froze. An overdue episode is one freeze by the policy; the
earlier ones in the last twelve months are counted from the audit log, where every freeze is
recorded. Changes are written in bulk and audited; a second run the same day finds nothing to do.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select

from bnpl.domain.account_policy import POLICY, AccountPolicy, next_state
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.store.bulk import among, chunks
from bnpl.store.tables import audit_log, credit_accounts

_CHANGE = (
    credit_accounts.update()
    # only if nobody changed the line since it was read (staff, in another transaction)
    .where(credit_accounts.c.customer_id == bindparam("cid"), credit_accounts.c.state == bindparam("was"))
    .values(state=bindparam("st"), frozen_by=bindparam("by"), updated_at=bindparam("now"))
)


def apply_account_policy(
    ctx: Ctx, dpd: dict[int, int], policy: AccountPolicy = AccountPolicy()
) -> dict[str, int]:
    """Freeze, unfreeze or block lines given each overdue customer's days past due today."""
    a = credit_accounts.c
    overdue = sorted(dpd)
    rows: list[Any] = []
    for chunk in chunks(ctx.conn, overdue):
        rows += ctx.conn.execute(
            select(a.customer_id, a.state, a.frozen_by).where(
                a.state == "active", among(ctx.conn, a.customer_id, chunk)
            )
        ).all()
    rows += ctx.conn.execute(
        select(a.customer_id, a.state, a.frozen_by).where(a.state == "frozen", a.frozen_by == POLICY)
    ).all()
    since = datetime.combine(ctx.today - timedelta(days=365), time.min, tzinfo=UTC)
    freezing = [f"customer:{r.customer_id}" for r in rows if r.state == "active"]
    episodes: dict[str, int] = {}
    for streams in chunks(ctx.conn, freezing):
        episodes |= dict(
            ctx.conn.execute(
                select(audit_log.c.stream, func.count())
                .where(
                    audit_log.c.action == "account.frozen",
                    audit_log.c.at >= since,
                    among(ctx.conn, audit_log.c.stream, streams),
                )
                .group_by(audit_log.c.stream)
            ).all()
        )
    counts = {"frozen": 0, "unfrozen": 0, "blocked": 0}
    changes, records = [], []
    for r in sorted(rows, key=lambda r: r.customer_id):  # accounts in a fixed order: no deadlocks
        stream = f"customer:{r.customer_id}"
        change = next_state(
            r.state, r.frozen_by, dpd.get(r.customer_id, 0), int(episodes.get(stream, 0)), policy
        )
        if change is None:
            continue
        by = POLICY if change.state == "frozen" else None
        changes.append({"cid": r.customer_id, "was": r.state, "st": change.state, "by": by, "now": ctx.now})
        records.append(
            (
                stream,
                f"account.{change.state}",
                "credit_account",
                r.customer_id,
                {"state": r.state},
                {"state": change.state, "reason": change.reason},
            )
        )
        counts[{"frozen": "frozen", "active": "unfrozen", "blocked": "blocked"}[change.state]] += 1
    if changes:
        ctx.conn.execute(_CHANGE, changes)
        audit.record_many(ctx, records)
    return counts
