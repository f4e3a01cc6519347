"""Exposure: what is outstanding per merchant and on the whole platform, and the other facts a
checkout needs beyond the customer's locked account, gathered in one round trip.

Outstanding per merchant is recomputed from ledger lines by a set-based job (end of day, or
`bnpl risk exposure refresh` as often as wanted), never by updating one row per checkout: a live
stream sends thousands of orders to one merchant in minutes, and a per-checkout update of its row
would serialise them all. The price is lag: the cap sees the book as of the last refresh (the
merchant's velocity rules see the minutes since).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam, func, select

from bnpl.domain.errors import NotFound
from bnpl.domain.ledger import Account
from bnpl.domain.orders import HOLDING_STATUSES
from bnpl.runtime import SYSTEM, Ctx, Platform
from bnpl.services.credit_lines import OLDEST_OVERDUE, lock_account, overdue_orders
from bnpl.services.queries import OWED
from bnpl.store.bulk import among_named
from bnpl.store.direct import Direct
from bnpl.store.tables import (
    credit_accounts,
    credit_models,
    credit_profiles,
    exposure_snapshots,
    ledger_lines,
    merchants,
    obligations,
    orders,
)

PLATFORM = "platform"
REFRESH_LOCK = 0x6273_6E70_6578_70  # "bnpexp": one exposure refresh at a time


def merchant_scope(merchant_id: int) -> str:
    return f"merchant:{merchant_id}"


def refresh(platform: Platform) -> dict[str, Any]:
    """Recompute exposure per merchant and in total — principal owed (from the ledger) plus what is
    authorized and may still be captured — in one transaction: readers see the old snapshot or the
    new one, never a mix. On PostgreSQL an advisory lock keeps two refreshes from colliding."""

    def work(ctx: Ctx) -> dict[str, Any]:
        if ctx.conn.dialect.name == "postgresql":
            ctx.conn.execute(select(func.pg_advisory_xact_lock(REFRESH_LOCK)))
        principal = ledger_lines.c
        per_merchant = ctx.conn.execute(
            select(orders.c.merchant_id, sa.cast(func.sum(principal.amount), sa.BigInteger))
            .join(orders, orders.c.id == principal.order_id)
            .where(principal.account == Account.CUSTOMER_PRINCIPAL.value)
            .group_by(orders.c.merchant_id)
        ).all()
        held = ctx.conn.execute(
            select(orders.c.merchant_id, sa.cast(func.sum(orders.c.amount), sa.BigInteger))
            .where(orders.c.status.in_(HOLDING_STATUSES))
            .group_by(orders.c.merchant_id)
        ).all()
        totals: dict[str, int] = {}
        for m, total in [*per_merchant, *held]:  # what is owed, and what may still be captured
            totals[merchant_scope(m)] = totals.get(merchant_scope(m), 0) + int(total)
        totals[PLATFORM] = sum(totals.values())
        rows = [{"scope": scope, "outstanding": amount, "as_of": ctx.now} for scope, amount in totals.items()]
        ctx.conn.execute(exposure_snapshots.delete())
        ctx.conn.execute(exposure_snapshots.insert(), rows)
        return {"as_of": ctx.now, "merchants": len(rows) - 1, "platform_outstanding": totals[PLATFORM]}

    result: dict[str, Any] = platform.run(SYSTEM, work)
    return result


@dataclass(frozen=True, slots=True)
class CheckoutFacts:
    """What a checkout reads besides the locked account, in one round trip: the customer's stored
    credit profile, the oldest overdue bill, what falls due in the next 30 days, the exposure
    snapshots, and which credit models score."""

    profile: dict[str, float] | None
    oldest_overdue: date | None
    due_next_month: int
    merchant_exposure: int
    platform_exposure: int
    champion: str | None  # the credit model that scores checkouts, if any
    any_shadow: bool

    def days_overdue(self, today: date) -> int:
        return (today - self.oldest_overdue).days if self.oldest_overdue else 0


def _scalar(query: Any) -> Any:
    return query.scalar_subquery()


def _customer_facts(customer: Any, oldest_overdue: Any) -> tuple[Any, ...]:
    """A customer's checkout facts, each a scalar subquery on ``customer`` (a parameter, or the
    column of a set-based read): the stored credit profile, the oldest overdue bill
    (``oldest_overdue``) and what falls due in the next 30 days (``in_30``)."""
    return (
        _scalar(select(credit_profiles.c.features).where(credit_profiles.c.customer_id == customer)).label(
            "fact_profile"
        ),
        oldest_overdue.label("fact_oldest_overdue"),
        _scalar(
            select(func.coalesce(func.sum(OWED), 0)).where(
                obligations.c.customer_id == customer,
                obligations.c.status == "open",
                obligations.c.due_date <= bindparam("in_30"),
            )
        ).label("fact_due_next_month"),
    )


# the merchant's exposure (scope ``mscope``), the platform's, and which credit models score
_MERCHANT_FACTS = (
    _scalar(
        select(exposure_snapshots.c.outstanding).where(exposure_snapshots.c.scope == bindparam("mscope"))
    ).label("fact_merchant_exposure"),
    _scalar(select(exposure_snapshots.c.outstanding).where(exposure_snapshots.c.scope == PLATFORM)).label(
        "fact_platform_exposure"
    ),
    _scalar(select(credit_models.c.version).where(credit_models.c.role == "champion")).label("fact_champion"),
    _scalar(select(func.count()).where(credit_models.c.role == "shadow")).label("fact_shadows"),
)
# Read after the account lock, in a statement of its own: on PostgreSQL (READ COMMITTED) a statement
# that waited for the lock would still read these facts as they were before the wait, and every
# writer of them (payments, captures, returns) holds that lock.
# The merchant's row comes with them: one round trip for both, after the lock.
_MERCHANT = select(merchants, *_MERCHANT_FACTS).where(merchants.c.id == bindparam("mid"))
_FACTS = _MERCHANT.add_columns(*_customer_facts(bindparam("cid"), OLDEST_OVERDUE.scalar_subquery()))


def lock_account_with_facts(ctx: Ctx, customer_id: int, merchant_id: int) -> tuple[Any, Any, CheckoutFacts]:
    """Lock the customer's credit account (always the first lock), then read the merchant and the
    checkout's facts. Returns the account row, the merchant row and the facts."""
    account = lock_account(ctx, customer_id)
    row = ctx.conn.execute(
        _FACTS,
        {
            "cid": customer_id,
            "mid": merchant_id,
            "today": ctx.today,
            "in_30": ctx.today + timedelta(days=30),
            "mscope": merchant_scope(merchant_id),
        },
    ).first()
    if row is None:
        raise NotFound(f"merchant {merchant_id} not found")
    facts = _checkout_facts(row, row)
    return account, row, facts


# --- many checkouts at once ------------------------------------------------------------------


@functools.cache
def _statements(pg: bool) -> tuple[Direct, Direct, Direct]:
    """The batch's three statements, built once per dialect (``pg``: PostgreSQL): lock the accounts
    ``cids`` in customer-id order; then, after the lock, the facts of each of them; and the
    merchant's row with its facts."""
    account = credit_accounts.c.customer_id
    overdue = overdue_orders(one_customer=False)
    oldest = _scalar(select(func.min(overdue.c.first_due)).where(overdue.c.customer_id == account))
    return (
        Direct(
            select(credit_accounts)
            .where(among_named(pg, account, "cids"))
            .order_by(account)
            .with_for_update()
        ),
        Direct(select(account, *_customer_facts(account, oldest)).where(among_named(pg, account, "cids"))),
        Direct(_MERCHANT),
    )


def lock_accounts_with_facts(
    ctx: Ctx, pairs: list[tuple[int, int]]
) -> tuple[dict[int, Any], dict[int, Any], dict[tuple[int, int], CheckoutFacts]]:
    """``lock_account_with_facts`` for a batch of (customer, merchant) pairs: the accounts locked in
    one statement, in customer-id order (the order every batch takes them in, so two batches never
    deadlock), then the facts of all of them in one statement, and each merchant's row with its
    facts (a batch is one merchant's: one statement), with the same fact definitions as a single
    checkout's.

    Returns the locked accounts and the merchants found (a missing one is absent) and the facts
    per pair whose customer and merchant were both found."""
    cids = sorted({c for c, _ in pairs})
    mids = sorted({m for _, m in pairs})
    if not cids:
        return {}, {}, {}
    conn = ctx.conn
    lock, customer_facts, merchant = _statements(conn.dialect.name == "postgresql")
    accounts = {row.customer_id: row for row in lock.rows(conn, {"cids": cids})}
    found = [c for c in cids if c in accounts]
    in_30 = ctx.today + timedelta(days=30)
    facts_of = {}
    if found:  # the facts, read after the locks (see _MERCHANT above)
        facts_of = {
            row.customer_id: row
            for row in customer_facts.rows(conn, {"cids": found, "today": ctx.today, "in_30": in_30})
        }
    merchant_rows = {}
    for mid in mids:
        row = merchant.first(conn, {"mid": mid, "mscope": merchant_scope(mid)})
        if row is not None:
            merchant_rows[mid] = row
    facts = {
        (cid, mid): _checkout_facts(facts_of[cid], merchant_rows[mid])
        for cid, mid in set(pairs)
        if cid in facts_of and mid in merchant_rows
    }
    return accounts, merchant_rows, facts


def _checkout_facts(customer: Any, merchant: Any) -> CheckoutFacts:
    """A checkout's facts from the rows that carry them (``fact_`` columns: the customer's, and the
    merchant's; for a single checkout both are one row)."""
    profile = customer.fact_profile
    if isinstance(profile, str):  # a JSON scalar subquery comes back as text on some backends
        profile = json.loads(profile)
    oldest = customer.fact_oldest_overdue
    if isinstance(oldest, str):
        oldest = date.fromisoformat(oldest)
    # a merchant or a platform not in the snapshot had nothing outstanding at the last refresh
    return CheckoutFacts(
        profile,
        oldest,
        int(customer.fact_due_next_month or 0),
        int(merchant.fact_merchant_exposure or 0),
        int(merchant.fact_platform_exposure or 0),
        merchant.fact_champion,
        bool(merchant.fact_shadows),
    )
