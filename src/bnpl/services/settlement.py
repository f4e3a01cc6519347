"""Merchant settlement: pay what is owed on orders whose settlement delay has passed.

Balances come from ledger lines, never from a merchant balance row, so a live stream's burst of
orders to one merchant never queues on a hot row. Clawbacks (merchant receivable) are netted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bnpl.domain import postings
from bnpl.domain.ledger import Account
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.services.ledger import account_balance, post
from bnpl.store.bulk import among, chunks
from bnpl.store.tables import journal_entries, ledger_lines, orders


def merchants_due(ctx: Ctx) -> list[int]:
    """Merchants with orders whose settlement delay has passed and that are not yet settled."""
    query = (
        select(orders.c.merchant_id)
        .where(orders.c.settle_on <= ctx.today, orders.c.settled_on.is_(None))
        .distinct()
        .order_by(orders.c.merchant_id)
    )
    return list(ctx.conn.execute(query).scalars())


def settle_merchant(ctx: Ctx, merchant_id: int) -> dict[str, Any] | None:
    """Pay one merchant what is owed on its orders due today, netting clawbacks it owes.

    One transaction per merchant, so one merchant's large day never holds up the others."""
    ctx.actor.require("system")
    order_ids = list(
        ctx.conn.execute(
            select(orders.c.id)
            .where(
                orders.c.merchant_id == merchant_id,
                orders.c.settle_on <= ctx.today,
                orders.c.settled_on.is_(None),
            )
            .order_by(orders.c.id)
            .with_for_update()
        ).scalars()
    )
    if not order_ids:
        return None
    owed: dict[int, int] = {}
    for chunk in chunks(ctx.conn, order_ids):
        owed.update(
            ctx.conn.execute(
                select(ledger_lines.c.order_id, -func.sum(ledger_lines.c.amount))
                .where(
                    ledger_lines.c.account == Account.MERCHANT_PAYABLE.value,
                    among(ctx.conn, ledger_lines.c.order_id, chunk),
                )
                .group_by(ledger_lines.c.order_id)
            ).all()
        )
    payables = [(oid, int(owed[oid])) for oid in order_ids if owed.get(oid, 0) > 0]
    total = sum(a for _, a in payables)
    receivable = account_balance(ctx, Account.MERCHANT_RECEIVABLE, merchant_id=merchant_id)
    offset = max(0, min(receivable, total))
    entry_id = post(ctx, postings.settlement(ctx.today, merchant_id, payables, offset)) if total else None
    for chunk in chunks(ctx.conn, order_ids):
        ctx.conn.execute(
            orders.update().where(among(ctx.conn, orders.c.id, chunk)).values(settled_on=ctx.today)
        )
    summary = {
        "merchant_id": merchant_id,
        "orders": len(order_ids),
        "gross": total,
        "clawback_netted": offset,
        "paid": total - offset,
        "entry_id": entry_id,
        "business_date": ctx.today.isoformat(),
    }
    audit.record(ctx, f"merchant:{merchant_id}", "merchant.settled", "merchant", merchant_id, None, summary)
    return summary


def merchant_balances(ctx: Ctx, merchant_id: int) -> dict[str, int]:
    """What the platform owes the merchant and what the merchant owes back, from the ledger."""
    rows = dict(
        ctx.conn.execute(
            select(ledger_lines.c.account, func.sum(ledger_lines.c.amount))
            .where(ledger_lines.c.merchant_id == merchant_id)
            .group_by(ledger_lines.c.account)
        ).all()
    )
    return {
        "payable": -int(rows.get(Account.MERCHANT_PAYABLE.value, 0)),
        "receivable": int(rows.get(Account.MERCHANT_RECEIVABLE.value, 0)),
        "mdr_charged": -int(rows.get(Account.MDR_INCOME.value, 0)),
    }


def settlements_paid(ctx: Ctx, merchant_id: int, limit: int = 60) -> list[Any]:
    """A merchant's settlements, newest first: the entry's id and business date, the amount paid
    and the number of order lines it settled."""
    line, entry = ledger_lines.c, journal_entries.c
    return list(
        ctx.conn.execute(
            select(
                entry.id,
                entry.business_date,
                func.sum(line.amount).label("amount"),
                func.count().label("orders"),
            )
            .join(journal_entries, entry.id == line.entry_id)
            .where(
                line.merchant_id == merchant_id,
                line.account == Account.MERCHANT_PAYABLE.value,
                entry.kind == "settlement",
            )
            .group_by(entry.id, entry.business_date)
            .order_by(entry.id.desc())
            .limit(limit)
        ).all()
    )
