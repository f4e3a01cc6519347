"""Step ``lifecycle``: expire stale authorizations, assume overdue deliveries and settle the
merchants due today. Each order or merchant is its own transaction, so a crash loses nothing
already done, and each is idempotent, so running the day twice changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial

from sqlalchemy import select

from bnpl.domain.errors import InvalidState
from bnpl.domain.orders import HOLDING_STATUSES
from bnpl.eod.steps import Step, Summary
from bnpl.runtime import SYSTEM, Ctx, Platform
from bnpl.services import orders as order_service
from bnpl.services.settlement import merchants_due, settle_merchant
from bnpl.store.tables import orders


def _quietly(platform: Platform, work: Callable[[Ctx], object]) -> int:
    """1 if ``work`` ran; 0 if the order moved on meanwhile (captured, cancelled, delivered)."""
    try:
        platform.run(SYSTEM, work)
    except InvalidState:
        return 0
    return 1


def run_lifecycle(platform: Platform) -> Summary:
    with platform.read(SYSTEM) as ctx:
        today = ctx.today
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
    return {
        "expired": expired,
        "deliveries_assumed": assumed,
        "merchants_settled": len(settlements),
        "settled_amount": sum(s["paid"] for s in settlements),
    }


STEP = Step("lifecycle", run_lifecycle, transaction=False)
