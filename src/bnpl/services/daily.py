"""The core steps of a business day: expire stale authorizations, assume overdue deliveries,
settle merchants, apply the account-state policy (freeze, unfreeze, block), refresh the exposure
snapshots and the merchants' cash-out graph signals. Each step is idempotent, so running a day
twice changes nothing, and each order or merchant is its own transaction, so a crash loses nothing
already done."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from typing import Any

from sqlalchemy import func, select

from bnpl.domain.errors import InvalidState
from bnpl.domain.orders import HOLDING_STATUSES
from bnpl.risk import graph
from bnpl.services import exposure
from bnpl.services import orders as order_service
from bnpl.services.accounts import apply_account_policy
from bnpl.services.context import SYSTEM, Ctx, Platform
from bnpl.services.settlement import merchants_due, settle_merchant
from bnpl.store.tables import audit_log, orders


def _quietly(platform: Platform, work: Callable[[Ctx], object]) -> int:
    """1 if ``work`` ran; 0 if the order moved on meanwhile (captured, cancelled, delivered)."""
    try:
        platform.run(SYSTEM, work)
    except InvalidState:
        return 0
    return 1


def run_day(platform: Platform) -> dict[str, Any]:
    """Run today's jobs, one order per transaction so a crash loses nothing already done."""
    with platform.read(SYSTEM) as ctx:
        today = ctx.today
        latest = ctx.conn.execute(select(func.max(audit_log.c.business_date))).scalar()
        if isinstance(latest, str):
            latest = date.fromisoformat(latest)
        if latest is not None and latest > today:
            # the day's jobs read "today": run for a past date, they would undo what later days did
            raise InvalidState(
                f"the ledger already has entries dated {latest}; end of day cannot run for {today}"
            )
        stale = (
            ctx.conn.execute(
                select(orders.c.id).where(orders.c.status.in_(HOLDING_STATUSES), orders.c.expires_on < today)
            )
            .scalars()
            .all()
        )
        cutoff = today - timedelta(days=platform.settings.assumed_delivery_days)
        undelivered = ctx.conn.execute(
            select(orders.c.id, orders.c.captured_on).where(
                orders.c.status == "captured", orders.c.captured_on <= cutoff
            )
        ).all()
    expired = 0
    for order_id in stale:
        expired += _quietly(platform, partial(order_service.expire, order_id=order_id))
    assumed = 0
    for row in undelivered:
        on = row.captured_on + timedelta(days=platform.settings.assumed_delivery_days)
        assumed += _quietly(platform, partial(order_service.deliver, order_id=row.id, on=on, assumed=True))
    settlements = []
    for merchant_id in platform.run(SYSTEM, merchants_due):
        summary = platform.run(SYSTEM, partial(settle_merchant, merchant_id=merchant_id))
        if summary:
            settlements.append(summary)
    accounts = apply_account_policy(platform)
    book = exposure.refresh(platform)
    rings = graph.refresh(platform)
    return {
        "business_date": today.isoformat(),
        "expired": expired,
        "deliveries_assumed": assumed,
        "merchants_settled": len(settlements),
        "settled_amount": sum(s["paid"] for s in settlements),
        "accounts": accounts,
        "platform_outstanding": book["platform_outstanding"],
        "merchants_flagged": rings["flagged"],
    }
