"""The inputs risk rules see at checkout: the basket, the account, and velocity over sliding
windows per customer, device, address, merchant and customer–merchant pair.

Velocity is counted in the database from the orders table, so it is exact and keeps no state of
its own (nothing to bound in memory): one round trip of indexed range counts. Counts that span
customers (a device, an address) are serialised on PostgreSQL by transaction-level advisory locks
on the device and the address, taken after the customer's account lock, so two concurrent
checkouts on one device each see the other; SQLite serialises write transactions already.

Two slower-moving kinds of signal ride along in the same round trip or need none:

* ``merchant.cashout_score``, ``merchant.ring_share`` and ``merchant.first_bill_default_rate`` are
  read from the merchant's ``merchant_risk`` row, computed in the background by
  ``bnpl.risk.graph.refresh`` (0 when the merchant has no row: never refreshed, or no orders in the
  window of the last refresh). One primary-key look-up, only when a rule reads them.
* ``account.hours_since_limit_raise`` comes from the locked account row itself
  (``limit_raised_at``); ``NEVER_RAISED`` hours when the limit was never raised.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

from bnpl.domain.decision import available_credit
from bnpl.domain.orders import RESALE_CATEGORIES
from bnpl.runtime import Ctx
from bnpl.store.direct import Direct
from bnpl.store.tables import customers, merchant_risk, orders

WINDOWS = {
    "10m": timedelta(minutes=10),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
# The merchant_risk signals the checkout reads (signal name: key in merchant_risk.signals).
MERCHANT_RISK_SIGNALS = {
    "merchant.cashout_score": "cashout_score",
    "merchant.ring_share": "ring_share",
    "merchant.first_bill_default_rate": "first_bill_default_rate",
}
NEVER_RAISED = Decimal(1_000_000)  # hours since a limit raise, for a limit never raised
_HOURS = Decimal("0.01")

# Every name a rule may use, with its CEL type; rule sets are checked against these when they load.
# Amounts (fen) and counts are int; ratios, hours and scores are Decimal here and double in CEL.
SIGNAL_TYPES: dict[str, str] = {
    "amount": "int",
    "plan": "string",
    "channel": "string",
    "items": "int",
    "categories": "list(string)",
    "category_resale": "bool",
    "account.limit": "int",
    "account.available": "int",
    "account.outstanding": "int",
    "account.utilisation": "double",
    "account.hours_since_limit_raise": "double",
    "customer.age_days": "int",
    "customer.orders_total": "int",
    # the credit assessment of this checkout: the grade ("" without a champion) and whether it is
    # good enough to lift the caps on easily resold goods (domain.credit.lifts_category_caps)
    "credit.grade": "string",
    "credit.trusted": "bool",
    # from the marketplace feed as the checkout may use it (false without consent or data)
    "marketplace.contact_change_30d": "bool",
    **{f"velocity.customer_{w}": "int" for w in WINDOWS},
    "velocity.pair_24h": "int",
    "merchant.orders_10m": "int",
    "merchant.orders_1h": "int",
    **dict.fromkeys(MERCHANT_RISK_SIGNALS, "double"),
    "device.present": "bool",
    "device.known": "bool",
    "device.customers_7d": "int",
    "device.orders_24h": "int",
    "address.present": "bool",
    "address.known": "bool",
    "address.customers_7d": "int",
    "address.orders_24h": "int",
}
SIGNAL_NAMES = frozenset(SIGNAL_TYPES)


SHARED_KEY_SIGNALS = frozenset(n for n in SIGNAL_NAMES if n.startswith(("device.", "address.")))


def _lock_key(kind: str, value: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(f"{kind}:{value}".encode(), digest_size=8).digest(), "big", signed=True
    )


def _count(*conditions: ColumnElement[bool]) -> Any:
    return select(func.count()).where(*conditions).scalar_subquery()


def _velocity_columns(
    needed: frozenset[str], has_device: bool, has_address: bool, cid: Any, mid: Any
) -> list[Any]:
    """Every count the rules need, as labelled scalar subqueries on the customer ``cid`` and the
    merchant ``mid`` (bound parameters for one checkout, or the columns of a batch's pairs)."""
    o = orders.c
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
    if needed & MERCHANT_RISK_SIGNALS.keys():  # the merchant's background-computed row, by key
        risk = select(merchant_risk.c.signals).where(merchant_risk.c.merchant_id == mid)
        wanted.append(risk.scalar_subquery().label("merchant.risk"))
    created = select(customers.c.created_at).where(customers.c.id == cid).scalar_subquery()
    return [created.label("customer.created_at"), *wanted]


@lru_cache(maxsize=64)
def _velocity(needed: frozenset[str], has_device: bool, has_address: bool) -> Any:
    """One SELECT of scalar subqueries: every count the rules need, in a single round trip.

    Built once per shape (which signals, which keys present) with bound parameters, so a checkout
    pays neither the building nor the compiling of this statement."""
    return select(*_velocity_columns(needed, has_device, has_address, bindparam("cid"), bindparam("mid")))


@lru_cache(maxsize=16)
def _velocity_many(needed: frozenset[str]) -> Direct:
    """The same counts for many (customer, merchant) pairs in one statement (PostgreSQL): the
    pairs are two arrays unnested side by side, each row's counts correlated to its pair."""
    pairs = (
        func.unnest(bindparam("cids", type_=ARRAY(BigInteger)), bindparam("mids", type_=ARRAY(BigInteger)))
        .table_valued("cid", "mid", with_ordinality="n")
        .render_derived()
    )
    columns = _velocity_columns(needed, False, False, pairs.c.cid, pairs.c.mid)
    return Direct(select(pairs.c.n, *columns).select_from(pairs).order_by(pairs.c.n))


def velocity_many(
    ctx: Ctx, pairs: list[tuple[int, int]], needed: frozenset[str] = SIGNAL_NAMES
) -> list[dict[str, Any]] | None:
    """What ``gather`` reads from the database, for checkouts without a device or an address, in
    one round trip (hand each to ``gather`` as ``counts``); None on SQLite (``gather`` reads its
    own). The caller holds the customers' account locks."""
    if ctx.conn.dialect.name != "postgresql" or not pairs:
        return None
    params: dict[str, Any] = {"cids": [c for c, _ in pairs], "mids": [m for _, m in pairs]}
    params |= {f"since_{w}": ctx.now - d for w, d in WINDOWS.items()}
    rows = _velocity_many(needed).mappings(ctx.conn, params)
    for row in rows:
        del row["n"]
    return rows


def _utc_date(moment: datetime) -> Any:
    """The UTC calendar date of a stored timestamp (PostgreSQL answers in the session's zone)."""
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


def _utc(moment: datetime) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite gives back the UTC wall clock, naive)."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def hours_since(raised_at: datetime | None, now: datetime) -> Decimal:
    """Whole hundredths of an hour from a limit raise to ``now`` (rounded down, never negative);
    ``NEVER_RAISED`` without a raise."""
    if raised_at is None:
        return NEVER_RAISED
    seconds = max(0.0, (_utc(now) - _utc(raised_at)).total_seconds())
    return (Decimal(repr(seconds)) / 3600).quantize(_HOURS, rounding=ROUND_FLOOR)


def merchant_risk_signals(stored: Any) -> dict[str, Decimal]:
    """The checkout's view of a ``merchant_risk.signals`` value: Decimals (rules never see a
    float), 0 for a missing row or key."""
    if isinstance(stored, str):  # a JSON scalar subquery may come back as text
        stored = json.loads(stored)
    stored = stored or {}
    return {name: Decimal(str(stored.get(key) or 0)) for name, key in MERCHANT_RISK_SIGNALS.items()}


def lock_shared_keys(ctx: Ctx, keys: list[tuple[str | None, str | None]]) -> None:
    """Take the device and address locks of many checkouts at once, in sorted order (a batch: its
    checkouts' own ``gather`` then finds them held). PostgreSQL only, as in ``gather``."""
    if ctx.conn.dialect.name != "postgresql":
        return
    wanted = sorted(
        {
            _lock_key(k, v)
            for device, address in keys
            for k, v in (("device", device), ("address", address))
            if v
        }
    )
    if wanted:
        ctx.conn.execute(select(*(func.pg_advisory_xact_lock(k) for k in wanted)))


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
    credit_grade: str = "",
    credit_trusted: bool = False,
    feed: Mapping[str, float] | None = None,
    counts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The signal values for one checkout (counts only where ``needed``: a busy merchant's hourly
    count is not worth a scan if no rule reads it). The caller holds the account lock.
    ``counts``: what ``velocity_many`` read for this checkout in its batch (no device, no address).
    The checkout's credit assessment and marketplace feed come from the caller."""
    given = {
        "credit.grade": credit_grade,
        "credit.trusted": credit_trusted,
        "marketplace.contact_change_30d": bool((feed or {}).get("mkt_contact_change_30d", 0.0)),
    }
    if counts is not None:
        return given | _signals(
            ctx, dict(counts), amount, plan, channel, categories, items, account, None, None
        )
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
    return given | _signals(
        ctx, counts, amount, plan, channel, categories, items, account, device_id, address_hash
    )


def _signals(
    ctx: Ctx,
    counts: dict[str, Any],
    amount: int,
    plan: str,
    channel: str,
    categories: list[str],
    items: int,
    account: Any,
    device_id: str | None,
    address_hash: str | None,
) -> dict[str, Any]:
    created: datetime = counts.pop("customer.created_at")
    has_risk = "merchant.risk" in counts  # looked up only when a rule reads it
    risk = counts.pop("merchant.risk", None)
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
        "account.hours_since_limit_raise": hours_since(account.limit_raised_at, ctx.now),
        "customer.age_days": max(0, (ctx.now.date() - _utc_date(created)).days),
        "device.present": bool(device_id),
        "address.present": bool(address_hash),
    }
    for name in ("device", "address"):  # counted only when the key is present and a rule reads it
        signals[f"{name}.known"] = int(counts.pop(f"{name}.known", 0)) > 0
        signals[f"{name}.customers_7d"] = int(counts.pop(f"{name}.customers_7d", 0))
        signals[f"{name}.orders_24h"] = int(counts.pop(f"{name}.orders_24h", 0))
    signals |= {k: int(v) for k, v in counts.items()}
    if has_risk:
        signals |= merchant_risk_signals(risk)
    return signals
