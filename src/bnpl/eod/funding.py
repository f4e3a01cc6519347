"""Step ``funding``: a day's funding cost on the receivables outstanding, once a date."""

from __future__ import annotations

from sqlalchemy import func, select

from bnpl.domain import postings
from bnpl.domain.delinquency import funding_cost
from bnpl.domain.ledger import Account
from bnpl.eod.steps import Step, Summary
from bnpl.runtime import Ctx
from bnpl.services.ledger import post
from bnpl.store.tables import ledger_lines


def accrue_funding(ctx: Ctx) -> Summary:
    receivables = int(
        ctx.conn.execute(
            select(func.coalesce(func.sum(ledger_lines.c.amount), 0)).where(
                ledger_lines.c.account.in_([Account.CUSTOMER_PRINCIPAL.value, Account.CUSTOMER_FEE.value])
            )
        ).scalar_one()
    )
    cost = funding_cost(max(receivables, 0), ctx.settings.collections.funding_annual_bps)
    if cost:
        post(ctx, postings.funding_accrual(ctx.today, cost))
    return {"receivables": receivables, "cost": cost}


STEP = Step("funding", accrue_funding, once=True)
