"""The inputs risk rules see at checkout: the basket, the account, and velocity over sliding
windows per customer, device, address, merchant and customer–merchant pair.

Velocity is counted in the database from the orders table, so it is exact and keeps no state of
its own (nothing to bound in memory): one round trip of indexed range counts. Counts that span
customers (a device, an address) are serialised on PostgreSQL by transaction-level advisory locks
on the device and the address, taken after the customer's account lock, so two concurrent
checkouts on one device each see the other; SQLite serialises write transactions already.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from bnpl.domain.decision import available_credit
from bnpl.domain.orders import RESALE_CATEGORIES
from bnpl.services.context import Ctx
from bnpl.store.tables import customers, orders

WINDOWS = {
    "10m": timedelta(minutes=10),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
# Easily resold goods: the usual targets of cash-out (套现) and reselling.

# Every name a rule may use; rule sets are checked against this set when they load.
SIGNAL_NAMES = frozenset(
    {
        "amount",
        "plan",
        "channel",
        "items",
        "categories",
        "category_resale",
        "account.limit",
        "account.available",
        "account.outstanding",
        "account.utilisation",
        "customer.age_days",
        "customer.orders_total",
        *(f"velocity.customer_{w}" for w in WINDOWS),
        "velocity.pair_24h",
        "merchant.orders_10m",
        "merchant.orders_1h",
        "device.present",
        "device.known",
        "device.customers_7d",
        "device.orders_24h",
        "address.present",
        "address.known",
        "address.customers_7d",
        "address.orders_24h",
    }
)


SHARED_KEY_SIGNALS = frozenset(n for n in SIGNAL_NAMES if n.startswith(("device.", "address.")))


def _lock_key(kind: str, value: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(f"{kind}:{value}".encode(), digest_size=8).digest(), "big", signed=True
    )


def _count(*conditions: ColumnElement[bool]) -> Any:
    return select(func.count()).where(*conditions).scalar_subquery()


@lru_cache(maxsize=64)
def _velocity(needed: frozenset[str], has_device: bool, has_address: bool) -> Any:
    """One SELECT of scalar subqueries: every count the rules need, in a single round trip.

    Built once per shape (which signals, which keys present) with bound parameters, so a checkout
    pays neither the building nor the compiling of this statement."""
    o = orders.c
    cid: Any = bindparam("cid")
    mid: Any = bindparam("mid")
    since: dict[str, Any] = {w: bindparam(f"since_{w}") for w in WINDOWS}
    cols: dict[str, Any] = {
        f"velocity.customer_{w}": _count(o.customer_id == cid, o.created_at >= t) for w, t in since.items()
    }
    cols["customer.orders_total"] = _count(o.customer_id == cid)
    # "+ 0" keeps the planner on the customer's few rows: a live-stream merchant has thousands
    cols["velocity.pair_24h"] = _count(
        o.customer_id == cid, o.merchant_id + literal_column("0") == mid, o.created_at >= since["24h"]
    )
    cols["merchant.orders_10m"] = _count(o.merchant_id == mid, o.created_at >= since["10m"])
    cols["merchant.orders_1h"] = _count(o.merchant_id == mid, o.created_at >= since["1h"])
    for name, column, present in (
        ("device", o.device_id, has_device),
        ("address", o.address_hash, has_address),
    ):
        if present:
            value: Any = bindparam(name)
            cols[f"{name}.known"] = _count(column == value, o.customer_id == cid)
            cols[f"{name}.customers_7d"] = (
                select(func.count(func.distinct(o.customer_id)))
                .where(column == value, o.created_at >= since["7d"])
                .scalar_subquery()
            )
            cols[f"{name}.orders_24h"] = _count(column == value, o.created_at >= since["24h"])
    wanted = [c.label(k) for k, c in cols.items() if k in needed]
    created = select(customers.c.created_at).where(customers.c.id == cid).scalar_subquery()
    return select(created.label("customer.created_at"), *wanted)


def _utc_date(moment: datetime) -> Any:
    """The UTC calendar date of a stored timestamp (PostgreSQL answers in the session's zone)."""
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


def gather(
    ctx: Ctx,
    *,
    customer_id: int,
    merchant_id: int,
    amount: int,
    plan: str,
    channel: str,
    categories: list[str],
    items: int,
    account: Any,
    device_id: str | None,
    address_hash: str | None,
    needed: frozenset[str] = SIGNAL_NAMES,
) -> dict[str, Any]:
    """The signal values for one checkout (counts only where ``needed``: a busy merchant's hourly
    count is not worth a scan if no rule reads it). The caller holds the account lock."""
    if ctx.conn.dialect.name == "postgresql" and needed & SHARED_KEY_SIGNALS:
        keys = sorted(_lock_key(k, v) for k, v in (("device", device_id), ("address", address_hash)) if v)
        if keys:
            ctx.conn.execute(select(*(func.pg_advisory_xact_lock(k) for k in keys)))
    since = {w: ctx.now - d for w, d in WINDOWS.items()}
    query = _velocity(needed, bool(device_id), bool(address_hash))
    params: dict[str, Any] = {
        "cid": customer_id,
        "mid": merchant_id,
        "device": device_id,
        "address": address_hash,
    }
    params |= {f"since_{w}": t for w, t in since.items()}
    counts = dict(ctx.conn.execute(query, params).mappings().one())
    created: datetime = counts.pop("customer.created_at")
    used = account.outstanding + account.holds
    signals: dict[str, Any] = {
        "amount": amount,
        "plan": plan,
        "channel": channel,
        "items": items,
        "categories": sorted(categories),
        "category_resale": any(c in RESALE_CATEGORIES for c in categories),
        "account.limit": account.credit_limit,
        "account.available": available_credit(account.credit_limit, account.outstanding, account.holds),
        "account.outstanding": account.outstanding,
        "account.utilisation": Decimal(used) / Decimal(account.credit_limit)
        if account.credit_limit
        else Decimal(1),
        "customer.age_days": max(0, (ctx.now.date() - _utc_date(created)).days),
        "device.present": bool(device_id),
        "address.present": bool(address_hash),
    }
    for name in ("device", "address"):  # counted only when the key is present and a rule reads it
        signals[f"{name}.known"] = int(counts.pop(f"{name}.known", 0)) > 0
        signals[f"{name}.customers_7d"] = int(counts.pop(f"{name}.customers_7d", 0))
        signals[f"{name}.orders_24h"] = int(counts.pop(f"{name}.orders_24h", 0))
    signals |= {k: int(v) for k, v in counts.items()}
    return signals
