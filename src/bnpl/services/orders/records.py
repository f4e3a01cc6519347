"""What every order use case shares: the prebuilt statements, the lock order (the customer's
account, then the order), who may see an order, and the order row's update."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select

from bnpl.domain.errors import (
    Forbidden,
    InvalidState,
    NotFound,
)
from bnpl.domain.money import apply_rate
from bnpl.runtime import Ctx
from bnpl.services.access import may_see_order, require_order_reader
from bnpl.store.tables import credit_accounts, obligations, orders

# Statements on the order's path, built once.
# one round trip: lock the account of the order's customer
LOCK_ACCOUNT_OF_ORDER = (
    select(credit_accounts)
    .where(
        credit_accounts.c.customer_id
        == select(orders.c.customer_id).where(orders.c.id == bindparam("oid")).scalar_subquery()
    )
    .with_for_update()
)
LOCK_ORDER = select(orders).where(orders.c.id == bindparam("oid")).with_for_update()
UPDATE_ORDER = orders.update().where(orders.c.id == bindparam("b_id"))
NEW_OBLIGATIONS = obligations.insert().returning(obligations.c.id, sort_by_parameter_order=True)


def customer_stream(customer_id: int) -> str:
    return f"customer:{customer_id}"


def mdr_of(amount: int, bps: int) -> int:
    return apply_rate(amount, Decimal(bps) / 10_000)


def can_see(ctx: Ctx, order: Any) -> bool:
    """Whether the caller may read this order (the rule is ``services.access``)."""
    return may_see_order(ctx.actor, order)


def lock_order(ctx: Ctx, order_id: int, *roles: str) -> tuple[Any, Any]:
    """Lock the customer's account, then the order (the fixed lock order); check the actor."""
    require_order_reader(ctx.actor)  # 403 before anything is read or locked
    account = ctx.conn.execute(LOCK_ACCOUNT_OF_ORDER, {"oid": order_id}).first()
    if account is None:
        raise NotFound(f"order {order_id} not found")
    order = ctx.conn.execute(LOCK_ORDER, {"oid": order_id}).mappings().one()
    check_order(ctx, order_id, order, roles)
    return account, order


def check_order(ctx: Ctx, order_id: int, order: Any, roles: tuple[str, ...]) -> None:
    """The checks every action on a locked order makes: the caller may see it and act on it, and
    the business date is not before its last step."""
    if order is None or not can_see(ctx, order):
        raise NotFound(f"order {order_id} not found")
    if ctx.actor.role not in roles and ctx.actor.role not in ("admin", "system"):
        raise Forbidden(f"a {ctx.actor.role} may not do this to an order")
    last_step = max(d for d in (order["authorized_on"], order["captured_on"], order["delivered_on"]) if d)
    if ctx.today < last_step:
        raise InvalidState(f"the business date {ctx.today} is before this order's last step on {last_step}")


def update_order(ctx: Ctx, order_id: int, **values: Any) -> None:
    ctx.conn.execute(UPDATE_ORDER, {"b_id": order_id, **values})
