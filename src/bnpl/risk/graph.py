"""Cash-out (套现) collusion signals per merchant, from the customer–device–address graph.

The full account is in docs/risk.md ("The merchant cash-out graph")."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sqlalchemy import BigInteger, case, cast, func, select
from sqlalchemy.engine import Connection

from bnpl.domain.errors import NotFound
from bnpl.domain.ledger import Account
from bnpl.risk.signals import MERCHANT_RISK_SIGNALS, merchant_risk_signals
from bnpl.runtime import SYSTEM, Ctx, Platform
from bnpl.store.frames import read_frame
from bnpl.store.tables import journal_entries, ledger_lines, merchant_risk, merchants, obligations, orders

LOOKBACK_DAYS = 90
RING_MIN_CUSTOMERS = 3
FIRST_BILL_GRACE_DAYS = 7
# cashout_score = ring_share × (BASE + NO_RETURN × (1 − return_rate) + DEFAULT × first_bill_default_rate)
SCORE_BASE, SCORE_NO_RETURN, SCORE_DEFAULT = 0.4, 0.3, 0.3
FLAG_SCORE = 0.6  # the summary counts merchants at or above this (the default rule's threshold)

COLUMNS = (
    "customers",
    "orders",
    "amount",
    "ring_customers",
    "ring_share",
    "largest_ring",
    "return_rate",
    "first_bills_due",
    "first_bill_defaults",
    "first_bill_default_rate",
    "cashout_score",
)
_COUNTS = (
    "customers",
    "orders",
    "amount",
    "ring_customers",
    "largest_ring",
    "first_bills_due",
    "first_bill_defaults",
)

_RECEIVABLE = (Account.CUSTOMER_PRINCIPAL.value, Account.CUSTOMER_FEE.value)
_CUSTOMER_SIDE = (*_RECEIVABLE, Account.CUSTOMER_CREDIT.value)


def _kinds(*kinds: str) -> tuple[str, ...]:
    """Entry kinds with their reversals: a reversing entry nets its kind out."""
    return (*kinds, *(f"reversal:{k}" for k in kinds))


_PAYMENT_KINDS = _kinds("repayment", "apply_credit")
_CHARGE_KINDS = _kinds("capture", "plan_conversion")
_RETURN_KINDS = _kinds("return")


def compute(
    conn: Connection, as_of: datetime, lookback_days: int = LOOKBACK_DAYS
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The signals of every merchant with a checkout in the window (a frame indexed by
    ``merchant_id`` with ``COLUMNS``), and figures of the whole graph."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    if lookback_days < 1:
        raise ValueError("lookback_days must be at least 1")
    as_of = as_of.astimezone(UTC)  # SQLite stores UTC wall-clock text: compare like with like
    o = orders.c
    window = (o.created_at >= as_of - timedelta(days=lookback_days), o.created_at < as_of)
    checkouts = read_frame(
        conn,
        select(
            o.id.label("order_id"), o.merchant_id, o.customer_id, o.amount, o.device_id, o.address_hash
        ).where(*window),
    )
    if checkouts.empty:
        return pd.DataFrame(columns=list(COLUMNS), index=pd.Index([], name="merchant_id")), {
            "customers": 0,
            "devices_and_addresses": 0,
            "rings": 0,
            "ring_customers": 0,
            "largest_component": 0,
            "merchants": 0,
        }
    ledger = read_frame(conn, _ledger_query(as_of, window))
    component, graph = _rings(checkouts)
    per_order = _order_outcomes(ledger, as_of)
    shipped = checkouts.merge(per_order, left_on="order_id", right_index=True)
    shipped["component"] = shipped["customer_id"].map(component)
    shipped["in_ring"] = shipped["component"].map(graph.pop("sizes")) >= RING_MIN_CUSTOMERS
    frame = _per_merchant(shipped, pd.Index(sorted(checkouts["merchant_id"].unique()), name="merchant_id"))
    graph["merchants"] = len(frame)
    return frame, graph


def _ledger_query(as_of: datetime, window: tuple[Any, ...]) -> Any:
    """The customer side of the ledger before ``as_of`` for the orders placed in the window, summed
    in the database to one row per order and obligation (lines without an obligation — a refund
    to the credit balance — make the order's row with a null obligation)."""
    line, entry, ob = ledger_lines.c, journal_entries.c, obligations.c
    receivable = line.account.in_(_RECEIVABLE)
    by_due = entry.business_date <= ob.due_date

    def total(condition: Any) -> Any:
        return cast(func.coalesce(func.sum(case((condition, line.amount), else_=0)), 0), BigInteger)

    return (
        select(
            line.order_id,
            line.obligation_id,
            ob.due_date,
            func.max(case((entry.kind == "capture", 1), else_=0)).label("captured"),
            total(receivable & entry.kind.in_(_CHARGE_KINDS)).label("charged"),
            (-total(entry.kind.in_(_RETURN_KINDS))).label("returned"),
            total(receivable).label("balance"),
            total(receivable & by_due).label("owed_at_due"),
            (-total(receivable & by_due & entry.kind.in_(_PAYMENT_KINDS))).label("paid_by_due"),
        )
        .select_from(
            ledger_lines.join(journal_entries, entry.id == line.entry_id)
            .join(orders, orders.c.id == line.order_id)
            .outerjoin(obligations, ob.id == line.obligation_id)
        )
        .where(*window, entry.created_at < as_of, line.account.in_(_CUSTOMER_SIDE))
        .group_by(line.order_id, line.obligation_id, ob.due_date)
    )


def _rings(checkouts: pd.DataFrame) -> tuple[pd.Series, dict[str, Any]]:
    """Each customer's component in the customer–device–address graph, and the graph's figures."""
    customer_codes, customer_ids = pd.factorize(checkouts["customer_id"])
    n_customers = len(customer_ids)
    edges_from: list[np.ndarray] = []
    edges_to: list[np.ndarray] = []
    offset = n_customers
    for column in ("device_id", "address_hash"):
        values = checkouts[column]
        present = (values.notna() & (values.astype(str) != "")).to_numpy()
        codes, uniques = pd.factorize(values[present])
        edges_from.append(customer_codes[present])
        edges_to.append(codes + offset)
        offset += len(uniques)
    rows, cols = np.concatenate(edges_from), np.concatenate(edges_to)
    adjacency = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(offset, offset))
    _, labels = connected_components(adjacency, directed=False)
    customer_labels = labels[:n_customers]
    sizes = pd.Series(customer_labels).value_counts()  # customers per component
    rings = sizes[sizes >= RING_MIN_CUSTOMERS]
    graph = {
        "customers": n_customers,
        "devices_and_addresses": offset - n_customers,
        "rings": len(rings),
        "ring_customers": int(rings.sum()),
        "largest_component": int(sizes.max()) if len(sizes) else 0,
        "sizes": sizes,
    }
    return pd.Series(customer_labels, index=customer_ids), graph


def _order_outcomes(ledger: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """Per shipped order (a capture entry before ``as_of``): what was charged and returned, and
    whether its first bill had matured and defaulted."""
    if ledger.empty:
        return pd.DataFrame(
            {"charged": 0, "returned": 0, "first_bill_due": False, "first_bill_default": False},
            index=pd.Index([], name="order_id"),
        )
    money = ["charged", "returned", "balance", "owed_at_due", "paid_by_due"]
    ledger[money] = ledger[money].astype("int64")
    by_order = ledger.groupby("order_id")
    out = by_order[["charged", "returned"]].sum()
    out = out[by_order["captured"].max() > 0]

    each = ledger[ledger["obligation_id"].notna()]
    # a bill: owed or paid at its due date (not one returned or converted away before it)
    each = each[(each["owed_at_due"] > 0) | (each["paid_by_due"] > 0)]
    first = (
        each.assign(due=pd.to_datetime(each["due_date"]))
        .sort_values(["due", "obligation_id"])
        .drop_duplicates("order_id")
        .set_index("order_id")
    )
    today = pd.Timestamp(as_of.date())
    matured = (today - first["due"]).dt.days >= FIRST_BILL_GRACE_DAYS
    defaulted = matured & (first["balance"] > 0)
    out["first_bill_due"] = matured.reindex(out.index, fill_value=False).astype(bool)
    out["first_bill_default"] = defaulted.reindex(out.index, fill_value=False).astype(bool)
    return out


def _per_merchant(shipped: pd.DataFrame, merchant_ids: pd.Index) -> pd.DataFrame:
    by = shipped.groupby("merchant_id")
    ring = shipped[shipped["in_ring"]]
    frame = pd.DataFrame(
        {
            "customers": by["customer_id"].nunique(),
            "orders": by.size(),
            "amount": by["amount"].sum(),
            "ring_customers": ring.groupby("merchant_id")["customer_id"].nunique(),
            "ring_amount": ring.groupby("merchant_id")["amount"].sum(),
            "largest_ring": ring.groupby(["merchant_id", "component"])["customer_id"]
            .nunique()
            .groupby(level="merchant_id")
            .max(),
            "charged": by["charged"].sum(),
            "returned": by["returned"].sum(),
            "first_bills_due": by["first_bill_due"].sum(),
            "first_bill_defaults": by["first_bill_default"].sum(),
        },
        index=merchant_ids,
    ).fillna(0)
    amount = frame["amount"].where(frame["amount"] > 0)
    charged = frame["charged"].where(frame["charged"] > 0)
    bills_due = frame["first_bills_due"].where(frame["first_bills_due"] > 0)
    frame["ring_share"] = (frame["ring_amount"] / amount).fillna(0.0)
    frame["return_rate"] = (frame["returned"] / charged).clip(0.0, 1.0).fillna(0.0)
    frame["first_bill_default_rate"] = (frame["first_bill_defaults"] / bills_due).fillna(0.0)
    frame["cashout_score"] = (
        frame["ring_share"]
        * (
            SCORE_BASE
            + SCORE_NO_RETURN * (1.0 - frame["return_rate"])
            + SCORE_DEFAULT * frame["first_bill_default_rate"]
        )
    ).clip(0.0, 1.0)
    frame = frame[list(COLUMNS)]
    frame[list(_COUNTS)] = frame[list(_COUNTS)].astype("int64")
    return frame


def _signals(row: pd.Series) -> dict[str, Any]:
    """One merchant's stored signals: counts as integers, rates rounded to 4 decimals."""
    return {c: int(row[c]) if c in _COUNTS else round(float(row[c]), 4) for c in COLUMNS}


def refresh(
    platform: Platform, as_of: datetime | None = None, lookback_days: int = LOOKBACK_DAYS
) -> dict[str, Any]:
    """Recompute every merchant's signals as of ``as_of`` (default: now on the platform's clock)
    and replace the ``merchant_risk`` rows in one transaction (a checkout sees the old rows or the
    new ones, never a mix; a merchant without checkouts in the window loses its row, which reads
    as 0). Returns a summary."""
    started = time.perf_counter()
    if as_of is not None and as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    moment = (as_of or platform.clock.now()).astimezone(UTC)
    with platform.read() as ctx:
        frame, graph = compute(ctx.conn, moment, lookback_days)
    rows = [{"merchant_id": int(m), "as_of": moment, "signals": _signals(row)} for m, row in frame.iterrows()]

    def work(ctx: Ctx) -> None:
        ctx.conn.execute(merchant_risk.delete())
        if rows:
            ctx.conn.execute(merchant_risk.insert(), rows)

    platform.run(SYSTEM, work)
    top = frame[frame["cashout_score"] > 0].sort_values(["cashout_score", "amount"], ascending=False).head(5)
    return {
        "as_of": moment.isoformat(),
        "lookback_days": lookback_days,
        **graph,
        "flagged": int((frame["cashout_score"] >= FLAG_SCORE).sum()),
        "top": [{"merchant_id": int(m), **_signals(row)} for m, row in top.iterrows()],
        "seconds": round(time.perf_counter() - started, 3),
    }


def show(ctx: Ctx, merchant_id: int) -> dict[str, Any]:
    """A merchant's stored row, and the values a checkout reads from it (0 without a row)."""
    name = ctx.conn.execute(select(merchants.c.name).where(merchants.c.id == merchant_id)).scalar()
    if name is None:
        raise NotFound(f"merchant {merchant_id} not found")
    row = ctx.conn.execute(select(merchant_risk).where(merchant_risk.c.merchant_id == merchant_id)).first()
    stored = None if row is None else row.signals
    as_of = None
    if row is not None:
        as_of = (row.as_of if row.as_of.tzinfo else row.as_of.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    checkout = {k: float(v) for k, v in merchant_risk_signals(stored).items()}
    return {
        "merchant_id": merchant_id,
        "name": name,
        "as_of": as_of,
        "signals": stored,
        "checkout_reads": {k: checkout[k] for k in MERCHANT_RISK_SIGNALS},
    }
