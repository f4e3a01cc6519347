"""The platform's own training table: every matured order, the customer's features on the day it was
decided, and whether it went bad.

A row is an order that was shipped (it has obligations) whose first bill fell due at least
``bad_dpd`` days before ``as_of``, so its outcome can be read. Its features are ``model_features``
(its own and the marketplace feed's) as of the start of the UTC day the order was placed: strictly
before the decision, so no row sees its own order or anything after it. Utilisation, whose limit has
no history, is taken from what the order's decision recorded instead. The order is *bad* when any of
its bills that had fallen due ``bad_dpd`` days before ``as_of`` still had something unpaid
``bad_dpd`` days after its due date, read from the append-only ledger as it stood then (payments,
returns and waivers all count; a later recovery does not undo a default).

Set-based: one ledger query for the labels, and one ``model_features`` call per distinct day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

import pandas as pd
from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.engine import Connection

from bnpl.credit.dataset import Dataset, DatasetError, from_frame
from bnpl.credit.model_features import (
    MODEL_FEATURE_NAMES,
    MODEL_FEATURES,
    MODEL_NEUTRAL,
    ORDER_AMOUNT,
    model_features,
)
from bnpl.domain.ledger import Account
from bnpl.store.frames import read_frame
from bnpl.store.tables import decisions, journal_entries, ledger_lines, obligations, orders

BAD_DPD = 30
_RECEIVABLE = (Account.CUSTOMER_PRINCIPAL.value, Account.CUSTOMER_FEE.value)


def labels(conn: Connection, as_of: datetime, bad_dpd: int = BAD_DPD) -> pd.DataFrame:
    """One row per matured order: order_id, customer_id, placed (UTC), bad (0/1)."""
    horizon = as_of.astimezone(UTC).date() - timedelta(days=bad_dpd)
    line, entry, ob = ledger_lines.c, journal_entries.c, obligations.c
    keys = (ob.order_id, ob.id, ob.due_date, entry.business_date)
    lines = read_frame(
        conn,
        select(*keys, cast(func.sum(line.amount), BigInteger).label("amount"))
        .select_from(
            ledger_lines.join(journal_entries, entry.id == line.entry_id).join(
                obligations, ob.id == line.obligation_id
            )
        )
        .where(line.account.in_(_RECEIVABLE), entry.created_at < as_of, ob.due_date <= horizon)
        .group_by(*keys),
    )
    if lines.empty:
        return pd.DataFrame(columns=["order_id", "customer_id", "placed", "bad"])
    lines["cutoff"] = pd.to_datetime(lines["due_date"]) + pd.Timedelta(days=bad_dpd)
    counted = lines[pd.to_datetime(lines["business_date"]) <= lines["cutoff"]]
    unpaid = counted.groupby(["order_id", "id"])["amount"].sum() > 0
    bad = unpaid.groupby(level="order_id").any().astype(int).rename("bad")
    placed = read_frame(
        conn,
        select(
            orders.c.id.label("order_id"),
            orders.c.customer_id,
            orders.c.created_at.label("placed"),
            orders.c.amount,
        ).where(orders.c.id.in_([int(i) for i in bad.index])),
    )
    placed["placed"] = pd.to_datetime(placed["placed"], utc=True)
    return placed.merge(bad, left_on="order_id", right_index=True).sort_values("order_id")


def decision_utilisation(conn: Connection, order_ids: list[int]) -> pd.Series:
    """Outstanding over limit as each order's decision recorded them, in ``order_ids`` order."""
    used = {}
    rows = [
        row
        for i in range(0, len(order_ids), 10_000)  # PostgreSQL takes at most 65,535 parameters
        for row in conn.execute(
            select(orders.c.id, decisions.c.inputs)
            .join(decisions, decisions.c.id == orders.c.decision_id)
            .where(orders.c.id.in_(order_ids[i : i + 10_000]))
        )
    ]
    for order_id, inputs in rows:
        limit, outstanding = int(inputs["limit"]), int(inputs["outstanding"])
        used[order_id] = outstanding / limit if limit > 0 else float(outstanding > 0)
    return pd.Series([used[i] for i in order_ids], dtype=float)


def platform_dataset(
    conn: Connection,
    as_of: datetime,
    bad_dpd: int = BAD_DPD,
    on_day: Callable[[int], None] | None = None,
) -> Dataset:
    """The training table of matured orders as of ``as_of`` (see the module docstring)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    outcome = labels(conn, as_of, bad_dpd)
    if outcome.empty:
        raise DatasetError(f"no order has matured yet: a first bill must be {bad_dpd} days past due")
    parts = []
    for day, group in outcome.groupby(outcome["placed"].dt.date):
        moment = datetime.combine(day, time(0), tzinfo=UTC)
        features = model_features(conn, moment, sorted(set(group["customer_id"])))
        rows = group.merge(features, left_on="customer_id", right_index=True, how="left")
        parts.append(rows)
        if on_day:
            on_day(len(group))
    table = pd.concat(parts).sort_values("order_id")
    # a customer created on the very day of the order has no features before it: no history
    frame = table[list(MODEL_FEATURE_NAMES)].astype(float).fillna(MODEL_NEUTRAL)
    # utilisation as the checkout saw it: the limit has no history, and today's limit carries the
    # outcome (the limit review raises good payers and cuts bad ones)
    frame["utilisation"] = decision_utilisation(conn, table["order_id"].tolist()).to_numpy()
    frame[ORDER_AMOUNT] = table["amount"].astype(float).to_numpy()  # what the checkout asked for
    return from_frame(
        "platform",
        frame.reset_index(drop=True),
        table["bad"].to_numpy(),
        labels={f.name: (f.en, f.zh) for f in MODEL_FEATURES},
        directions={f.name: f.direction for f in MODEL_FEATURES},
    )
