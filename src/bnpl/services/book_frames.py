"""The book as data frames for portfolio analysis (the simulator's metrics, reports): each frame a
named read here, so analysis code never reads the tables itself."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import select

from bnpl.credit.platform_data import labels
from bnpl.runtime import Ctx
from bnpl.store.frames import read_frame
from bnpl.store.tables import (
    account_ageing,
    collection_cases,
    contact_attempts,
    decisions,
    journal_entries,
    ledger_lines,
    obligations,
    orders,
    roll_rates,
)


def orders_frame(ctx: Ctx) -> pd.DataFrame:
    o = orders.c
    return read_frame(
        ctx.conn,
        select(
            o.id.label("order_id"),
            o.customer_id,
            o.merchant_id,
            o.channel,
            o.amount,
            o.returned_amount,
            o.status,
            o.captured_on,
            o.decision_id,
        ),
    )


def decisions_frame(ctx: Ctx) -> pd.DataFrame:
    d = decisions.c
    return read_frame(ctx.conn, select(d.id, d.outcome, d.reasons, d.inputs))


def obligations_frame(ctx: Ctx) -> pd.DataFrame:
    ob = obligations.c
    frame = read_frame(ctx.conn, select(ob.id, ob.order_id, ob.due_date, ob.kind))
    frame["due_date"] = pd.to_datetime(frame["due_date"])
    return frame


def ledger_frame(ctx: Ctx) -> pd.DataFrame:
    """Every ledger line with its entry's business date and kind."""
    ll, je = ledger_lines.c, journal_entries.c
    frame = read_frame(
        ctx.conn,
        select(
            ll.account, ll.amount, ll.customer_id, ll.order_id, ll.obligation_id, je.business_date, je.kind
        ).join(journal_entries, je.id == ll.entry_id),
    )
    frame["business_date"] = pd.to_datetime(frame["business_date"])
    return frame


def ageing_frame(ctx: Ctx) -> pd.DataFrame:
    a = account_ageing.c
    return read_frame(ctx.conn, select(a.business_date, a.bucket, a.overdue_amount))


def roll_rates_frame(ctx: Ctx) -> pd.DataFrame:
    r = roll_rates.c
    return read_frame(ctx.conn, select(r.from_bucket, r.to_bucket, r.accounts))


def case_contacts_frame(ctx: Ctx) -> pd.DataFrame:
    """Contact attempts made on collection cases, allowed or blocked (with the blocking rule)."""
    a = contact_attempts.c
    return read_frame(
        ctx.conn,
        select(a.case_id, a.channel, a.reached, a.business_date, a.allowed, a.rule).where(
            a.case_id.is_not(None)
        ),
    )


def cases_frame(ctx: Ctx) -> pd.DataFrame:
    k = collection_cases.c
    return read_frame(ctx.conn, select(k.id.label("case_id"), k.closed_on, k.close_reason))


def matured_labels(ctx: Ctx, as_of: datetime) -> pd.DataFrame:
    """Orders whose first bill is 30 days past due as of ``as_of``, each good or bad (the training
    label of the platform's own data)."""
    return labels(ctx.conn, as_of)
