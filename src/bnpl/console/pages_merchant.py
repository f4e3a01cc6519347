"""A merchant's own corner of the console: their orders, returns, settlements and fees — and
nothing of any other merchant (the order service itself refuses another merchant's order)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from bnpl.console.web import PathId, StaffDep, allow, platform_of, render
from bnpl.domain.errors import NotFound
from bnpl.services import orders as order_service
from bnpl.services.settlement import merchant_balances, settlements_paid

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
        mine = order_service.order_rows(ctx, merchant_id=merchant_id, limit=100)
        their_returns = order_service.return_rows(ctx, merchant_id=merchant_id, limit=50)
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
    with platform_of(request).read(staff.actor) as ctx:
        paid = settlements_paid(ctx, merchant_id, limit=60)
        balances = merchant_balances(ctx, merchant_id)
    return render(request, "merchant_settlements.html.j2", staff, paid=paid, balances=balances)
