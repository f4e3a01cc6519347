"""A merchant's own corner of the console: their orders, returns, settlements and fees — and
nothing of any other merchant (the order service itself refuses another merchant's order)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from bnpl.console.web import PathId, StaffDep, allow, platform_of, render
from bnpl.domain.errors import NotFound
from bnpl.domain.ledger import Account
from bnpl.services import orders as order_service
from bnpl.services.settlement import merchant_balances
from bnpl.store.tables import journal_entries, ledger_lines, orders, returns

router = APIRouter(prefix="/console/merchant")


def _merchant(staff: object) -> int:
    allow(staff, "merchant")  # type: ignore[arg-type]
    merchant_id = getattr(staff, "merchant_id", None)
    if merchant_id is None:
        raise HTTPException(403, "your console user is not linked to a merchant")
    return int(merchant_id)


@router.get("/orders")
def merchant_orders(request: Request, staff: StaffDep) -> Response:
    merchant_id = _merchant(staff)
    with platform_of(request).read(staff.actor) as ctx:
        # one query (a list needs no items, schedule or decision; the order page has them)
        mine = ctx.conn.execute(
            select(orders).where(orders.c.merchant_id == merchant_id).order_by(orders.c.id.desc()).limit(100)
        ).all()
        r = returns.c
        their_returns = ctx.conn.execute(
            select(returns, orders.c.amount.label("order_amount"))
            .join(orders, orders.c.id == r.order_id)
            .where(orders.c.merchant_id == merchant_id)
            .order_by(r.id.desc())
            .limit(50)
        ).all()
    return render(request, "merchant_orders.html.j2", staff, orders=mine, returns=their_returns)


@router.get("/orders/{order_id}")
def merchant_order(request: Request, staff: StaffDep, order_id: PathId) -> Response:
    _merchant(staff)
    with platform_of(request).read(staff.actor) as ctx:
        try:
            order = order_service.get_order(ctx, order_id)  # another merchant's order: NotFound
        except NotFound:
            raise HTTPException(404, f"order {order_id} not found") from None
    return render(request, "merchant_order.html.j2", staff, order=order)


@router.get("/settlements")
def settlements(request: Request, staff: StaffDep) -> Response:
    merchant_id = _merchant(staff)
    line, entry = ledger_lines.c, journal_entries.c
    with platform_of(request).read(staff.actor) as ctx:
        paid = ctx.conn.execute(
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
            .limit(60)
        ).all()
        balances = merchant_balances(ctx, merchant_id)
    return render(request, "merchant_settlements.html.j2", staff, paid=paid, balances=balances)
