"""Credit lines: the account row each use case locks first, its view, its changes (limit, state,
the customer's own controls) and what is overdue on it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, select, text

from bnpl.domain.decision import available_credit
from bnpl.domain.errors import InvalidInput, NotFound, require_in_range
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.services.queries import OWED
from bnpl.store.direct import Direct
from bnpl.store.tables import credit_accounts, obligations, orders


def _check_name(name: str, what: str) -> None:
    if not name.strip():
        raise InvalidInput(f"{what} must not be empty")
    if any(ord(ch) < 32 for ch in name):
        raise InvalidInput(f"{what} must not contain control characters")


ACCOUNT_STATES = ("active", "frozen", "closed", "blocked")


def account_view(row: Any) -> dict[str, Any]:
    return account_view_of(row._mapping)


def account_of(ctx: Ctx, customer_id: int) -> dict[str, Any]:
    """The account's view as it stands in this transaction."""
    row = ctx.conn.execute(
        select(credit_accounts).where(credit_accounts.c.customer_id == customer_id)
    ).first()
    if row is None:
        raise NotFound(f"customer {customer_id} not found")
    return account_view(row)


def account_view_of(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "currency": row["currency"],
        "limit": row["credit_limit"],
        "outstanding": row["outstanding"],
        "holds": row["holds"],
        "available": available_credit(row["credit_limit"], row["outstanding"], row["holds"]),
        "credit_balance": row["credit_balance"],
        "chargeback_owed": row.get("chargeback_owed", 0),
        "state": row["state"],
        "own_limit": row.get("customer_limit"),
        "paused_until": row["paused_until"].isoformat() if row.get("paused_until") else None,
    }


# Built once: the checkout path runs these thousands of times a second.
_LOCK_ACCOUNT = (
    select(credit_accounts).where(credit_accounts.c.customer_id == bindparam("cid")).with_for_update()
)
_CHANGE_ACCOUNT = (
    credit_accounts.update()
    .where(credit_accounts.c.customer_id == bindparam("cid"))
    .values(
        outstanding=credit_accounts.c.outstanding + bindparam("d_out"),
        holds=credit_accounts.c.holds + bindparam("d_holds"),
        credit_balance=credit_accounts.c.credit_balance + bindparam("d_credit"),
        updated_at=bindparam("now"),
    )
)


# PostgreSQL, many accounts: one statement over arrays (an executemany runs one per account)
_CHANGE_ACCOUNTS_PG = Direct(
    text(
        "UPDATE credit_accounts SET outstanding = outstanding + t.d_out, holds = holds + t.d_holds, "
        "credit_balance = credit_balance + t.d_credit, updated_at = :now "
        "FROM unnest(CAST(:cids AS bigint[]), CAST(:d_out AS bigint[]), CAST(:d_holds AS bigint[]), "
        "CAST(:d_credit AS bigint[])) AS t(cid, d_out, d_holds, d_credit) "
        "WHERE credit_accounts.customer_id = t.cid"
    )
)


# Rare (a charged-back payment), so kept out of the statement every checkout runs.
_CHANGE_CHARGEBACK = (
    credit_accounts.update()
    .where(credit_accounts.c.customer_id == bindparam("cid"))
    .values(
        chargeback_owed=credit_accounts.c.chargeback_owed + bindparam("d_cb"),
        updated_at=bindparam("now"),
    )
)


def lock_account(ctx: Ctx, customer_id: int) -> Any:
    """Lock the customer's credit account: always the first lock a use case takes."""
    row = ctx.conn.execute(_LOCK_ACCOUNT, {"cid": customer_id}).first()
    if row is None:
        raise NotFound(f"customer {customer_id} not found")
    return row


# The customer's oldest bill past due and unpaid. A pending return pauses only what it will cut,
# and a return cuts from the tail (unpaid principal not yet due first): an order is overdue when
# what is unpaid past due is more than the part of the pending return left after the tail.
obligation = obligations.c
_PAST_DUE = obligation.due_date < bindparam("today")


def overdue_orders(one_customer: bool = True) -> Any:
    """Each order with a bill past due and unpaid (``first_due``: its oldest such due date;
    ``past_due``: what is unpaid past due) — for the customer ``cid``, or for everyone at once
    (end of day's ageing)."""
    owed_past_due = func.sum(case((_PAST_DUE, OWED), else_=0))
    query = (
        select(
            obligation.customer_id,
            obligation.order_id,
            func.min(case((_PAST_DUE, obligation.due_date))).label("first_due"),
            owed_past_due.label("past_due"),
        )
        .join(orders, orders.c.id == obligation.order_id)
        .where(obligation.status == "open")
        .group_by(obligation.customer_id, obligation.order_id, orders.c.pending_return_amount)
        .having(
            owed_past_due
            > orders.c.pending_return_amount
            - func.sum(case((_PAST_DUE, 0), else_=obligation.principal - obligation.principal_paid))
        )
        .having(owed_past_due > 0)
    )
    if one_customer:
        query = query.where(obligation.customer_id == bindparam("cid"))
    return query.subquery()


_OVERDUE_ORDERS = overdue_orders()
OLDEST_OVERDUE = select(func.min(_OVERDUE_ORDERS.c.first_due))


def days_overdue(ctx: Ctx, customer_id: int) -> int:
    """Days past due of the customer's oldest unpaid bill today (0: nothing is overdue)."""
    oldest = ctx.conn.execute(OLDEST_OVERDUE, {"cid": customer_id, "today": ctx.today}).scalar()
    return (ctx.today - oldest).days if oldest else 0


def change_account(
    ctx: Ctx,
    customer_id: int,
    outstanding: int = 0,
    holds: int = 0,
    credit_balance: int = 0,
    chargeback_owed: int = 0,
) -> None:
    """Add the deltas to the cached outstanding / holds / credit balance / chargeback owed of a
    locked account."""
    if chargeback_owed:
        ctx.conn.execute(_CHANGE_CHARGEBACK, {"cid": customer_id, "d_cb": chargeback_owed, "now": ctx.now})
    if outstanding or holds or credit_balance:
        ctx.conn.execute(
            _CHANGE_ACCOUNT,
            {
                "cid": customer_id,
                "d_out": outstanding,
                "d_holds": holds,
                "d_credit": credit_balance,
                "now": ctx.now,
            },
        )


def change_accounts(ctx: Ctx, deltas: Mapping[int, Mapping[str, int]]) -> None:
    """``change_account`` for many locked accounts at once (a batch of checkouts or captures):
    ``{customer_id: {"outstanding": …, "holds": …, "credit_balance": …}}``, one statement."""
    rows = [
        {
            "cid": cid,
            "d_out": d.get("outstanding", 0),
            "d_holds": d.get("holds", 0),
            "d_credit": d.get("credit_balance", 0),
            "now": ctx.now,
        }
        for cid, d in sorted(deltas.items())
        if any(d.values())
    ]
    if rows and ctx.conn.dialect.name == "postgresql":
        columns = {name: [r[name] for r in rows] for name in ("d_out", "d_holds", "d_credit")}
        _CHANGE_ACCOUNTS_PG.rows(ctx.conn, {"cids": [r["cid"] for r in rows], "now": ctx.now} | columns)
    elif rows:
        ctx.conn.execute(_CHANGE_ACCOUNT, rows)


def _update_account(
    ctx: Ctx, customer_id: int, values: dict[str, Any], action: str, before: dict[str, Any]
) -> dict[str, Any]:
    """Write ``values`` to the (locked) account and audit the change, before and after."""
    ctx.conn.execute(
        credit_accounts.update()
        .where(credit_accounts.c.customer_id == customer_id)
        .values(**values, updated_at=ctx.now)
    )
    after = account_of(ctx, customer_id)
    audit.record(ctx, f"customer:{customer_id}", action, "credit_account", customer_id, before, after)
    return after


def set_account(
    ctx: Ctx, customer_id: int, credit_limit: int | None = None, state: str | None = None
) -> dict[str, Any]:
    """Admin change of limit or state. A limit never drops below what is used (freeze instead)."""
    ctx.actor.require("admin")
    row = lock_account(ctx, customer_id)
    before = account_view(row)
    values: dict[str, Any] = {}
    if credit_limit is not None:
        require_in_range(credit_limit, "credit_limit", 0, 100_000_000)
        if credit_limit < row.outstanding + row.holds:
            raise InvalidInput(
                f"limit {credit_limit} is below what is in use ({row.outstanding + row.holds}); "
                "freeze the line instead"
            )
        values["credit_limit"] = credit_limit
        values["limit_set_by"] = "staff"
        if credit_limit > row.credit_limit:
            values["limit_raised_at"] = ctx.now
    if state is not None:
        if state not in ACCOUNT_STATES:
            raise InvalidInput(f"state must be one of {', '.join(ACCOUNT_STATES)}")
        values["state"] = state
        values["frozen_by"] = "staff" if state == "frozen" else None
    if not values:
        raise InvalidInput("nothing to change")
    return _update_account(ctx, customer_id, values, "account.changed", before)


def assign_first_limit(ctx: Ctx, customer_id: int, limit: int, reason: str) -> None:
    """The first limit of a (locked) line that was never given one, set by policy; audited."""
    before = {"credit_limit": 0, "limit_set_by": None}
    ctx.conn.execute(
        credit_accounts.update()
        .where(credit_accounts.c.customer_id == customer_id, credit_accounts.c.limit_set_by.is_(None))
        .values(credit_limit=limit, limit_set_by="policy", limit_raised_at=ctx.now, updated_at=ctx.now)
    )
    after = {"credit_limit": limit, "limit_set_by": "policy", "reason": reason}
    audit.record(ctx, f"customer:{customer_id}", "limit.assign", "credit_account", customer_id, before, after)


MAX_PAUSE_DAYS = 365
KEEP = object()  # "leave as it is", distinct from None ("clear it")


def set_controls(
    ctx: Ctx, customer_id: int, own_limit: object = KEEP, pause_days: int | None = None
) -> dict[str, Any]:
    """Responsible spending, by the customer: a spending ceiling of their own below the limit the
    platform grants (``None`` clears it), and a pause of use first, pay later for some days
    (``pause_days=0`` resumes now). Takes effect at the next checkout; audited."""
    if ctx.actor.role == "customer" and ctx.actor.subject_id != customer_id:
        raise NotFound(f"customer {customer_id} not found")
    ctx.actor.require("customer")
    row = lock_account(ctx, customer_id)
    values: dict[str, Any] = {}
    if own_limit is not KEEP:
        if own_limit is not None:
            if not isinstance(own_limit, int):
                raise InvalidInput("own_limit must be a whole number of fen")
            require_in_range(own_limit, "own_limit", 0, 100_000_000)
            if own_limit > row.credit_limit:
                raise InvalidInput(f"own_limit {own_limit} is above the credit limit {row.credit_limit}")
        values["customer_limit"] = own_limit
    if pause_days is not None:
        require_in_range(pause_days, "pause_days", 0, MAX_PAUSE_DAYS)
        values["paused_until"] = ctx.today + timedelta(days=pause_days - 1) if pause_days else None
    if not values:
        raise InvalidInput("nothing to change: give own_limit and/or pause_days")
    return _update_account(ctx, customer_id, values, "account.controls", account_view(row))
