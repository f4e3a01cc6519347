"""Step ``ageing``: days past due and bucket of every delinquent account today (replaced if the
day runs again), and the day's roll rates from the previous end of day's ageing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from sqlalchemy import delete, func, insert, select

from bnpl.domain.delinquency import CHARGED_OFF, bucket_for
from bnpl.eod.steps import Step, Summary
from bnpl.runtime import Ctx
from bnpl.services.credit_lines import overdue_orders
from bnpl.store.bulk import among, chunks, insert_rows
from bnpl.store.frames import as_date
from bnpl.store.tables import account_ageing, credit_accounts, eod_steps, roll_rates

account = credit_accounts.c
aged = account_ageing.c


class Delinquency(NamedTuple):
    dpd: int  # days past due: since the oldest bill unpaid past its due date
    amount: int  # what is past due and unpaid


@dataclass
class Roll:
    """Accounts that moved from one bucket to another since the previous ageing, and what they owe."""

    accounts: int = 0
    amount: int = 0


def delinquent_accounts(ctx: Ctx) -> dict[int, Delinquency]:
    """Every customer with a bill past due today, by customer id."""
    per_order = overdue_orders(one_customer=False)
    rows = ctx.conn.execute(
        select(per_order.c.customer_id, func.min(per_order.c.first_due), func.sum(per_order.c.past_due))
        .group_by(per_order.c.customer_id)
        .order_by(per_order.c.customer_id),
        {"today": ctx.today},
    ).all()
    return {cid: Delinquency((ctx.today - as_date(first)).days, int(amount)) for cid, first, amount in rows}


def ageing_today(ctx: Ctx) -> dict[int, int]:
    """Today's days past due by customer, as the ageing step wrote them."""
    return dict(
        ctx.conn.execute(select(aged.customer_id, aged.dpd).where(aged.business_date == ctx.today)).all()
    )


def _previous_ageing(ctx: Ctx) -> tuple[date | None, dict[int, str]]:
    # the previous end of day, not the last day with a delinquent account: after a day when
    # nobody was overdue (no ageing rows), the accounts that cured must not roll to current again
    last = ctx.conn.execute(
        select(func.max(eod_steps.c.business_date)).where(eod_steps.c.business_date < ctx.today)
    ).scalar()
    if last is None:
        return None, {}
    last = as_date(last)
    rows = ctx.conn.execute(select(aged.customer_id, aged.bucket).where(aged.business_date == last)).all()
    return last, dict(rows)


def age(ctx: Ctx) -> Summary:
    today = ctx.today
    accounts = delinquent_accounts(ctx)
    # accounts charged off today left the open book after today's first ageing: a second run of
    # the day keeps them as first aged, or it would change the ageing, the rolls and the cases
    for cid, dpd, amount in ctx.conn.execute(
        select(aged.customer_id, aged.dpd, aged.overdue_amount)
        .join(credit_accounts, account.customer_id == aged.customer_id)
        .where(aged.business_date == today, account.state == "charged_off")
    ):
        accounts.setdefault(cid, Delinquency(dpd, amount))
    ctx.conn.execute(delete(account_ageing).where(aged.business_date == today))
    ctx.conn.execute(delete(roll_rates).where(roll_rates.c.business_date == today))
    rows = [
        {
            "business_date": today,
            "customer_id": cid,
            "dpd": owed.dpd,
            "bucket": bucket_for(owed.dpd),
            "overdue_amount": owed.amount,
        }
        for cid, owed in accounts.items()
    ]
    if rows:
        insert_rows(ctx.conn, account_ageing, rows)
    _, before = _previous_ageing(ctx)
    gone = sorted(before.keys() - accounts.keys())
    written_off: set[int] = set()
    for chunk in chunks(ctx.conn, gone):
        written_off |= set(
            ctx.conn.execute(
                select(account.customer_id).where(
                    among(ctx.conn, account.customer_id, chunk), account.state == "charged_off"
                )
            ).scalars()
        )
    rolls: dict[tuple[str, str], Roll] = {}
    for cid in before.keys() | accounts.keys():
        if cid in accounts:
            to = bucket_for(accounts[cid].dpd)
        else:  # cured, or written off yesterday (not a cure)
            to = CHARGED_OFF if cid in written_off else "current"
        roll = rolls.setdefault((before.get(cid, "current"), to), Roll())
        roll.accounts += 1
        roll.amount += accounts[cid].amount if cid in accounts else 0
    if rolls:
        ctx.conn.execute(
            insert(roll_rates),
            [
                {
                    "business_date": today,
                    "from_bucket": from_bucket,
                    "to_bucket": to_bucket,
                    "accounts": roll.accounts,
                    "amount": roll.amount,
                }
                for (from_bucket, to_bucket), roll in sorted(rolls.items())
            ],
        )
    buckets: dict[str, dict[str, int]] = {}
    for owed in accounts.values():
        tally = buckets.setdefault(bucket_for(owed.dpd), {"accounts": 0, "amount": 0})
        tally["accounts"] += 1
        tally["amount"] += owed.amount
    return {"delinquent_accounts": len(rows), "buckets": dict(sorted(buckets.items()))}


STEP = Step("ageing", age)
