"""Exposure: what is outstanding per merchant and on the whole platform, and the other facts a
checkout needs beyond the customer's locked account, gathered in one round trip.

Outstanding per merchant is recomputed from ledger lines by a set-based job (end of day, or
`bnpl risk exposure refresh` as often as wanted), never by updating one row per checkout: a live
stream sends thousands of orders to one merchant in minutes, and a per-checkout update of its row
would serialise them all. The price is lag: the cap sees the book as of the last refresh (the
merchant's velocity rules see the minutes since).
"""

from __future__ import annotations

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
from bnpl.store.bulk import among
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


_FACT_COLUMNS = (
    _scalar(
        select(credit_profiles.c.features).where(credit_profiles.c.customer_id == bindparam("cid"))
    ).label("fact_profile"),
    OLDEST_OVERDUE.scalar_subquery().label("fact_oldest_overdue"),
    _scalar(
        select(func.coalesce(func.sum(OWED), 0)).where(
            obligations.c.customer_id == bindparam("cid"),
            obligations.c.status == "open",
            obligations.c.due_date <= bindparam("in_30"),
        )
    ).label("fact_due_next_month"),
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
_FACTS = select(merchants, *_FACT_COLUMNS).where(merchants.c.id == bindparam("mid"))


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
    profile = row.fact_profile
    if isinstance(profile, str):  # a JSON scalar subquery comes back as text on some backends
        profile = json.loads(profile)
    oldest = row.fact_oldest_overdue
    if isinstance(oldest, str):
        oldest = date.fromisoformat(oldest)
    # a merchant or a platform not in the snapshot had nothing outstanding at the last refresh
    facts = CheckoutFacts(
        profile,
        oldest,
        int(row.fact_due_next_month or 0),
        int(row.fact_merchant_exposure or 0),
        int(row.fact_platform_exposure or 0),
        row.fact_champion,
        bool(row.fact_shadows),
    )
    return account, row, facts


# --- many checkouts at once ------------------------------------------------------------------


def lock_accounts_with_facts(
    ctx: Ctx, pairs: list[tuple[int, int]]
) -> tuple[dict[int, Any], dict[int, Any], dict[tuple[int, int], CheckoutFacts]]:
    """``lock_account_with_facts`` for a batch of (customer, merchant) pairs: the accounts locked in
    one statement, in customer-id order (the order every batch takes them in, so two batches never
    deadlock), then the facts of all of them read set-based, a statement per kind of fact.

    Returns the locked accounts and the merchants found (a missing one is absent) and the facts
    per pair whose customer and merchant were both found."""
    cids = sorted({c for c, _ in pairs})
    mids = sorted({m for _, m in pairs})
    if not cids:
        return {}, {}, {}
    conn = ctx.conn
    accounts = {
        row.customer_id: row
        for row in conn.execute(
            select(credit_accounts)
            .where(among(conn, credit_accounts.c.customer_id, cids))
            .order_by(credit_accounts.c.customer_id)
            .with_for_update()
        )
    }
    found = [c for c in cids if c in accounts]
    # the facts, read after the locks (see _FACTS above)
    merchant_rows = {
        m.id: m for m in conn.execute(select(merchants).where(among(conn, merchants.c.id, mids)))
    }
    profiles: dict[int, Any] = {}
    oldest: dict[int, Any] = {}
    due: dict[int, int] = {}
    if found:
        for cid, features in conn.execute(
            select(credit_profiles.c.customer_id, credit_profiles.c.features).where(
                among(conn, credit_profiles.c.customer_id, found)
            )
        ):
            profiles[cid] = json.loads(features) if isinstance(features, str) else features
        overdue = overdue_orders(one_customer=False)
        for cid, first in conn.execute(
            select(overdue.c.customer_id, func.min(overdue.c.first_due))
            .where(among(conn, overdue.c.customer_id, found))
            .group_by(overdue.c.customer_id),
            {"today": ctx.today},
        ):
            if first is not None:
                oldest[cid] = date.fromisoformat(first) if isinstance(first, str) else first
        for cid, owed in conn.execute(
            select(obligations.c.customer_id, func.coalesce(func.sum(OWED), 0))
            .where(
                among(conn, obligations.c.customer_id, found),
                obligations.c.status == "open",
                obligations.c.due_date <= ctx.today + timedelta(days=30),
            )
            .group_by(obligations.c.customer_id)
        ):
            due[cid] = int(owed or 0)
    scopes = [merchant_scope(m) for m in mids]
    exposure = dict(
        conn.execute(
            select(exposure_snapshots.c.scope, exposure_snapshots.c.outstanding).where(
                among(conn, exposure_snapshots.c.scope, [*scopes, PLATFORM])
            )
        ).all()
    )
    roles = conn.execute(
        select(credit_models.c.version, credit_models.c.role).where(
            credit_models.c.role.in_(("champion", "shadow"))
        )
    ).all()
    champion = next((r.version for r in roles if r.role == "champion"), None)
    any_shadow = any(r.role == "shadow" for r in roles)
    facts = {
        (cid, mid): CheckoutFacts(
            profiles.get(cid),
            oldest.get(cid),
            due.get(cid, 0),
            int(exposure.get(merchant_scope(mid)) or 0),
            int(exposure.get(PLATFORM) or 0),
            champion,
            any_shadow,
        )
        for cid, mid in set(pairs)
        if cid in accounts and mid in merchant_rows
    }
    return accounts, merchant_rows, facts
