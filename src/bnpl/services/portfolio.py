"""The portfolio at the close of a business day, kept by end of day as one small record per date
(``eod_steps``, step ``snapshot``), so a dashboard reads a season as ninety rows, not the ledger.

A snapshot holds the book (customers, outstanding, holds, accounts by state), delinquency by bucket
(from the day's ageing), the day's decisions by outcome, and the day's net movement on every ledger
account (debit positive): captures, repayments, fees, write-offs and recoveries over any period are
sums of these.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, cast, func, select

from bnpl.runtime import Ctx
from bnpl.store.tables import account_ageing, credit_accounts, decisions, journal_entries, ledger_lines


def snapshot(ctx: Ctx) -> dict[str, Any]:
    a = credit_accounts.c
    book = ctx.conn.execute(
        select(
            func.count(),
            cast(func.coalesce(func.sum(a.outstanding), 0), BigInteger),
            cast(func.coalesce(func.sum(a.holds), 0), BigInteger),
        )
    ).one()
    states = {str(k): int(v) for k, v in ctx.conn.execute(select(a.state, func.count()).group_by(a.state))}
    g = account_ageing.c
    buckets = {
        bucket: {"accounts": int(n), "amount": int(amount)}
        for bucket, n, amount in ctx.conn.execute(
            select(g.bucket, func.count(), func.sum(g.overdue_amount))
            .where(g.business_date == ctx.today)
            .group_by(g.bucket)
        )
    }
    d = decisions.c
    outcomes = {
        outcome: {"count": int(n), "amount": int(amount)}
        for outcome, n, amount in ctx.conn.execute(
            select(d.outcome, func.count(), func.sum(d.amount))
            .where(d.business_date == ctx.today)
            .group_by(d.outcome)
        )
    }
    line, entry = ledger_lines.c, journal_entries.c
    movements = {
        account: int(amount)
        for account, amount in ctx.conn.execute(
            select(line.account, func.sum(line.amount))
            .join(journal_entries, entry.id == line.entry_id)
            .where(entry.business_date == ctx.today)
            .group_by(line.account)
        )
    }
    return {
        "customers": int(book[0]),
        "outstanding": int(book[1]),
        "holds": int(book[2]),
        "accounts_by_state": dict(sorted(states.items())),
        "delinquent": dict(sorted(buckets.items())),
        "decisions": dict(sorted(outcomes.items())),
        "movements": dict(sorted(movements.items())),
    }
