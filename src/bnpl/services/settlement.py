"""Merchant settlement: pay what is owed on orders whose settlement delay has passed.

Balances come from ledger lines, never from a merchant balance row, so a live stream's burst of
orders to one merchant never queues on a hot row. Clawbacks (merchant receivable) are netted.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from bnpl.domain import postings
from bnpl.domain.ledger import Account
from bnpl.services import audit
from bnpl.services.context import Ctx
from bnpl.services.ledger import account_balance, post
from bnpl.store.tables import ledger_lines, orders


def settle_due(ctx: Ctx, merchant_id: int | None = None) -> list[dict[str, Any]]:
    """Settle every order captured with ``settle_on`` on or before today; returns one summary per
    merchant paid."""
    ctx.actor.require("system")
    query = (
        select(orders.c.id, orders.c.merchant_id)
        .where(orders.c.settle_on <= ctx.today, orders.c.settled_on.is_(None))
        .order_by(orders.c.id)
        .with_for_update()
    )
    if merchant_id is not None:
        query = query.where(orders.c.merchant_id == merchant_id)
    due = ctx.conn.execute(query).all()
    by_merchant: dict[int, list[int]] = defaultdict(list)
    for row in due:
        by_merchant[row.merchant_id].append(row.id)
    summaries = []
    for mid, order_ids in sorted(by_merchant.items()):
        owed = dict(
            ctx.conn.execute(
                select(ledger_lines.c.order_id, -func.sum(ledger_lines.c.amount))
                .where(
                    ledger_lines.c.account == Account.MERCHANT_PAYABLE.value,
                    ledger_lines.c.order_id.in_(order_ids),
                )
                .group_by(ledger_lines.c.order_id)
            ).all()
        )
        payables = [(oid, int(owed[oid])) for oid in order_ids if owed.get(oid, 0) > 0]
        total = sum(a for _, a in payables)
        receivable = account_balance(ctx, Account.MERCHANT_RECEIVABLE, merchant_id=mid)
        offset = max(0, min(receivable, total))
        entry_id = post(ctx, postings.settlement(ctx.today, mid, payables, offset)) if total else None
        ctx.conn.execute(orders.update().where(orders.c.id.in_(order_ids)).values(settled_on=ctx.today))
        summary = {
            "merchant_id": mid,
            "orders": len(order_ids),
            "gross": total,
            "clawback_netted": offset,
            "paid": total - offset,
            "entry_id": entry_id,
            "business_date": ctx.today.isoformat(),
        }
        audit.record(ctx, f"merchant:{mid}", "merchant.settled", "merchant", mid, None, summary)
        summaries.append(summary)
    return summaries


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
