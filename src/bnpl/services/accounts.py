"""The end-of-day application of the account-state policy (``domain.account_policy``).

Candidates are found set-based: lines with a bill past due today, and lines the policy froze. An
overdue episode is one freeze by the policy; the earlier ones in the last twelve months are counted
from the audit log, where every freeze is recorded. Each change is its own transaction under the
account lock, audited, and idempotent: a second run the same day finds nothing to change.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import partial
from typing import Any

from sqlalchemy import func, or_, select

from bnpl.domain.account_policy import POLICY, AccountPolicy, next_state
from bnpl.services import audit
from bnpl.services.context import SYSTEM, Ctx, Platform
from bnpl.services.parties import days_overdue, lock_account
from bnpl.store.tables import audit_log, credit_accounts, obligations

CHUNK = 10_000


def apply_account_policy(platform: Platform, policy: AccountPolicy = AccountPolicy()) -> dict[str, int]:
    with platform.read() as c:
        today = c.today
        overdue = select(obligations.c.customer_id).where(
            obligations.c.status == "open", obligations.c.due_date < today
        )
        candidates = list(
            c.conn.execute(
                select(credit_accounts.c.customer_id)
                .where(
                    credit_accounts.c.state.in_(("active", "frozen")),
                    or_(credit_accounts.c.customer_id.in_(overdue), credit_accounts.c.frozen_by == POLICY),
                )
                .order_by(credit_accounts.c.customer_id)
            ).scalars()
        )
        since = datetime.combine(today - timedelta(days=365), time.min, tzinfo=UTC)
        streams = [f"customer:{cid}" for cid in candidates]
        freezes: dict[str, int] = {}
        for i in range(0, len(streams), CHUNK):  # PostgreSQL takes at most 65,535 parameters
            freezes |= dict(
                c.conn.execute(
                    select(audit_log.c.stream, func.count())
                    .where(
                        audit_log.c.action == "account.frozen",
                        audit_log.c.at >= since,
                        audit_log.c.stream.in_(streams[i : i + CHUNK]),
                    )
                    .group_by(audit_log.c.stream)
                ).all()
            )
    counts = {"frozen": 0, "unfrozen": 0, "blocked": 0}
    for customer_id in candidates:
        n = int(freezes.get(f"customer:{customer_id}", 0))
        change = platform.run(SYSTEM, partial(_apply, customer_id=customer_id, episodes=n, policy=policy))
        if change:
            counts[{"frozen": "frozen", "active": "unfrozen", "blocked": "blocked"}[change]] += 1
    return counts


def _apply(ctx: Ctx, customer_id: int, episodes: int, policy: AccountPolicy) -> str | None:
    account = lock_account(ctx, customer_id)
    change = next_state(account.state, account.frozen_by, days_overdue(ctx, customer_id), episodes, policy)
    if change is None:
        return None
    ctx.conn.execute(
        credit_accounts.update()
        .where(credit_accounts.c.customer_id == customer_id)
        .values(
            state=change.state, frozen_by=POLICY if change.state == "frozen" else None, updated_at=ctx.now
        )
    )
    before: dict[str, Any] = {"state": account.state}
    audit.record(
        ctx,
        f"customer:{customer_id}",
        f"account.{change.state}",
        "credit_account",
        customer_id,
        before,
        {"state": change.state, "reason": change.reason},
    )
    return change.state
