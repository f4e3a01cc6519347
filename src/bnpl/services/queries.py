"""Named read models: the questions front ends (the console, the simulator) ask of the book, each a
function here rather than a query of their own on the tables, and the one spelling of "still owed"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import BigInteger, cast, func, select

from bnpl.runtime import Ctx
from bnpl.store.tables import contact_attempts, field_visits, obligations, orders

obligation = obligations.c
OWED = (
    obligation.principal + obligation.fee - obligation.principal_paid - obligation.fee_paid
)  # still owed on an obligation


def owed_by_customer(ctx: Ctx, customer_id: int, status: str = "open") -> int:
    """What a customer still owes on their obligations in one status (open, or charged off)."""
    return int(
        ctx.conn.execute(
            select(func.coalesce(func.sum(OWED), 0)).where(
                obligation.customer_id == customer_id, obligation.status == status
            )
        ).scalar_one()
    )


def bills_due_by(ctx: Ctx, until: date) -> Sequence[Any]:
    """Open bills due on or before ``until`` with something still owed: order id, due date, seq,
    kind and what is owed, in order and due-date order."""
    owed = cast(func.sum(OWED), BigInteger).label("owed")
    rows = ctx.conn.execute(
        select(obligation.order_id, obligation.due_date, obligation.seq, obligation.kind, owed)
        .where(obligation.status == "open", obligation.due_date <= until)
        .group_by(obligation.order_id, obligation.due_date, obligation.seq, obligation.kind)
        .order_by(obligation.order_id, obligation.due_date, obligation.seq)
    ).all()
    return [row for row in rows if row.owed > 0]


def order_ids_in_status(ctx: Ctx, status: str) -> list[int]:
    return list(ctx.conn.execute(select(orders.c.id).where(orders.c.status == status)).scalars())


def visit_ids_in_status(ctx: Ctx, status: str) -> list[int]:
    return list(ctx.conn.execute(select(field_visits.c.id).where(field_visits.c.status == status)).scalars())


def contacts_made_on(ctx: Ctx, day: date) -> Sequence[Any]:
    """Contacts the policy allowed on a business date: customer id, channel and whether it reached."""
    a = contact_attempts.c
    return ctx.conn.execute(
        select(a.customer_id, a.channel, a.reached).where(a.business_date == day, a.allowed == 1)
    ).all()
