"""Point-in-time credit features from consumption behaviour.

The full account is in docs/credit.md ("Point-in-time features")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, and_, cast, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from bnpl.domain.decision import Outcome
from bnpl.domain.errors import NotFound
from bnpl.domain.ledger import Account
from bnpl.domain.orders import RESALE_CATEGORIES, Channel
from bnpl.store.frames import read_frame
from bnpl.store.tables import (
    credit_accounts,
    customers,
    decisions,
    journal_entries,
    ledger_lines,
    obligations,
    order_items,
    orders,
)


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    name: str
    en: str  # short labels for reason codes shown to customers
    zh: str
    direction: int  # +1 higher means more risk, -1 less risk, 0 no expectation (monotone constraint)
    neutral: float = 0.0  # the value when there is no history to measure


FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("account_age_days", "Account age", "账户开通时长", -1),
    *(
        spec
        for days in (30, 90, 365)
        for spec in (
            FeatureSpec(f"orders_{days}d", f"Orders in the last {days} days", f"近{days}天订单数", 0),
            FeatureSpec(f"gmv_{days}d", f"Spending in the last {days} days", f"近{days}天消费金额", 0),
            FeatureSpec(
                f"avg_basket_{days}d", f"Average order value, last {days} days", f"近{days}天平均订单金额", 0
            ),
        )
    ),
    FeatureSpec("declined_orders_90d", "Declined checkouts, last 90 days", "近90天被拒订单数", +1),
    FeatureSpec("resale_share_365d", "Share of spending on easily resold goods", "易变现商品消费占比", +1),
    FeatureSpec("categories_365d", "Number of product categories bought", "购买商品品类数", 0),
    FeatureSpec("live_share_365d", "Share of orders from live streams", "直播间下单占比", +1),
    FeatureSpec("night_share_365d", "Share of orders placed 00:00–05:59", "凌晨（0–6点）下单占比", +1),
    # trying and returning is what the product is for; no expectation either way
    FeatureSpec("return_rate_365d", "Share of purchases returned", "退货金额占比", 0),
    # 1.0 with nothing due yet: no evidence of lateness (obligations_due = 0 tells a model it is thin)
    FeatureSpec("on_time_ratio", "Share of bills paid on time", "按时还款账单占比", -1, neutral=1.0),
    FeatureSpec("obligations_due", "Bills due so far", "已到期账单数", 0),
    FeatureSpec("overdue_count_365d", "Bills that went overdue, last 12 months", "近12个月逾期账单数", +1),
    FeatureSpec("max_dpd_365d", "Longest days overdue, last 12 months", "近12个月最长逾期天数", +1),
    FeatureSpec("current_dpd", "Days overdue now", "当前逾期天数", +1),
    FeatureSpec("utilisation", "Share of credit limit in use", "额度使用率", +1),
    FeatureSpec("devices_90d", "Devices used, last 90 days", "近90天使用设备数", +1),
    FeatureSpec("addresses_90d", "Delivery addresses used, last 90 days", "近90天收货地址数", +1),
    FeatureSpec(
        "device_shared_accounts_90d",
        "Other accounts on your devices, last 90 days",
        "近90天同设备其他账户数",
        +1,
    ),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
NEUTRAL: dict[str, float] = {f.name: f.neutral for f in FEATURES}

# Decisions that put a hold on the line; the others were declines. The outcome is written once, so
# unlike orders.status it does not leak later cancellations or review results.
_HELD = (Outcome.APPROVE.value, Outcome.REVIEW.value)
_RECEIVABLE = (Account.CUSTOMER_PRINCIPAL.value, Account.CUSTOMER_FEE.value)
_CUSTOMER_SIDE = (*_RECEIVABLE, Account.CUSTOMER_CREDIT.value)
_PAYMENT_KINDS = ("repayment", "apply_credit")  # cash, or a credit balance (overpaid or refunded)
_PURCHASE_KINDS = ("capture", "plan_conversion")  # what the customer was charged (conversion adds fees)
_NIGHT_BEFORE_HOUR = 6


def compute_features(
    conn: Connection, as_of: datetime, customer_ids: Sequence[int] | None = None
) -> pd.DataFrame:
    """One row per customer created before ``as_of`` (all of them, or those of ``customer_ids``),
    index ``customer_id``, columns ``FEATURE_NAMES``, floats, never NaN."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    as_of = as_of.astimezone(UTC)  # SQLite stores UTC wall-clock text: compare like with like
    people = _customers(conn, as_of, customer_ids)
    ids = None if customer_ids is None else [int(i) for i in people.index]
    if ids == []:
        return pd.DataFrame(columns=list(FEATURE_NAMES), index=people.index, dtype=float)
    now = pd.Timestamp(as_of)
    today = pd.Timestamp(as_of.date())  # naive, like the business dates it is compared with
    columns: dict[str, Any] = {
        "account_age_days": (today - people["created_at"].dt.tz_localize(None).dt.normalize()).dt.days
    }
    columns |= _order_features(conn, as_of, ids, now, people["timezone"])
    columns |= _ledger_features(conn, as_of, ids, today, people["credit_limit"])
    columns["device_shared_accounts_90d"] = _shared_devices(conn, as_of, ids)
    frame = pd.DataFrame(columns, index=people.index).reindex(columns=list(FEATURE_NAMES))
    return frame.astype(float).fillna(NEUTRAL)


def features_for(conn: Connection, customer_id: int, as_of: datetime) -> dict[str, float]:
    """The features of one customer: the row ``compute_features`` gives for them."""
    frame = compute_features(conn, as_of, [customer_id])
    if customer_id not in frame.index:
        raise NotFound(f"customer {customer_id} did not exist before {as_of.isoformat()}")
    return {name: float(value) for name, value in frame.loc[customer_id].items()}


# --- reading -----------------------------------------------------------------------------------


def _only(column: Any, ids: list[int] | None) -> list[ColumnElement[bool]]:
    return [] if ids is None else [column.in_(ids)]


def _customers(conn: Connection, as_of: datetime, customer_ids: Sequence[int] | None) -> pd.DataFrame:
    c = customers.c
    query = (
        select(c.id.label("customer_id"), c.created_at, c.timezone, credit_accounts.c.credit_limit)
        .join(credit_accounts, credit_accounts.c.customer_id == c.id)
        .where(c.created_at < as_of, *_only(c.id, None if customer_ids is None else list(customer_ids)))
        .order_by(c.id)
    )
    people = read_frame(conn, query).set_index("customer_id")
    people["created_at"] = pd.to_datetime(people["created_at"], utc=True)
    return people


# --- orders: volume, mix, channel, time of day, devices and addresses ---------------------------


def _order_features(
    conn: Connection, as_of: datetime, ids: list[int] | None, now: pd.Timestamp, zones: pd.Series
) -> dict[str, Any]:
    o = orders.c
    in_year = [o.created_at >= as_of - timedelta(days=365), o.created_at < as_of, *_only(o.customer_id, ids)]
    entry = journal_entries.c
    shipped = (
        select(ledger_lines.c.order_id)
        .join(journal_entries, entry.id == ledger_lines.c.entry_id)
        .where(ledger_lines.c.order_id == o.id, entry.kind == "capture", entry.created_at < as_of)
        .exists()
    )
    checkouts = read_frame(
        conn,
        select(
            o.id.label("order_id"),
            o.customer_id,
            o.created_at,
            o.amount,
            o.channel,
            o.device_id,
            o.address_hash,
            decisions.c.outcome,
            shipped.label("shipped"),
        )
        .join(decisions, decisions.c.id == o.decision_id)
        .where(*in_year),
    )
    items = read_frame(
        conn,
        select(
            order_items.c.order_id,
            order_items.c.category,
            (order_items.c.unit_price * order_items.c.quantity).label("spend"),
        )
        .join(orders, o.id == order_items.c.order_id)
        .where(*in_year),
    )
    checkouts["created_at"] = pd.to_datetime(checkouts["created_at"], utc=True)
    age = now - checkouts["created_at"]
    shipped_ = checkouts["shipped"].astype(bool)
    bought = checkouts[shipped_]
    by = bought["customer_id"]
    out: dict[str, Any] = {}
    for days in (30, 90, 365):
        window = bought[age[shipped_] <= pd.Timedelta(days=days)].groupby("customer_id")["amount"]
        count, gmv = window.size(), window.sum()
        out |= {f"orders_{days}d": count, f"gmv_{days}d": gmv, f"avg_basket_{days}d": gmv / count}
    recent = checkouts[age <= pd.Timedelta(days=90)]
    out["declined_orders_90d"] = recent[~recent["outcome"].isin(_HELD)].groupby("customer_id").size()

    lines = items.merge(bought[["order_id", "customer_id"]], on="order_id")  # only orders bought
    resale = lines["spend"].where(lines["category"].isin(RESALE_CATEGORIES), 0)
    out["resale_share_365d"] = resale.groupby(lines["customer_id"]).sum() / lines.groupby("customer_id")[
        "spend"
    ].sum().where(lambda s: s > 0)
    out["categories_365d"] = lines.groupby("customer_id")["category"].nunique()
    out["live_share_365d"] = (bought["channel"] == Channel.LIVE_STREAM.value).groupby(by).mean()

    # local hour in each customer's own time zone: one conversion per zone, not per customer
    zone = by.map(zones)
    hour = pd.Series(np.nan, index=bought.index)
    for name, placed in bought["created_at"].groupby(zone):
        hour[placed.index] = placed.dt.tz_convert(str(name)).dt.hour
    out["night_share_365d"] = (hour < _NIGHT_BEFORE_HOUR).groupby(by).mean()

    # every attempt, approved or not, shows which devices and addresses an account uses
    out["devices_90d"] = recent.groupby("customer_id")["device_id"].nunique()
    out["addresses_90d"] = recent.groupby("customer_id")["address_hash"].nunique()
    return out


def _shared_devices(conn: Connection, as_of: datetime, ids: list[int] | None) -> pd.Series:
    """How many other accounts checked out, in the last 90 days, on a device the customer used."""
    o = orders.c
    recent = and_(o.created_at >= as_of - timedelta(days=90), o.created_at < as_of, o.device_id.is_not(None))
    mine = select(o.customer_id, o.device_id).where(recent, *_only(o.customer_id, ids)).distinct().subquery()
    theirs = select(o.customer_id, o.device_id).where(recent).distinct().subquery()
    pairs = read_frame(
        conn,
        select(mine.c.customer_id, theirs.c.customer_id.label("other"))
        .select_from(
            mine.join(
                theirs,
                and_(theirs.c.device_id == mine.c.device_id, theirs.c.customer_id != mine.c.customer_id),
            )
        )
        .distinct(),
    )
    return pairs.groupby("customer_id")["other"].nunique()


# --- the ledger: repayment behaviour, delinquency, returns, utilisation ------------------------


def _ledger_features(
    conn: Connection, as_of: datetime, ids: list[int] | None, today: pd.Timestamp, limits: pd.Series
) -> dict[str, Any]:
    line, entry, obligation = ledger_lines.c, journal_entries.c, obligations.c
    # Customer-side lines summed per obligation, account, entry kind and business day: compact, and
    # enough to rebuild every obligation's balance day by day as it stood before as_of.
    keys = (line.customer_id, line.obligation_id, line.account, entry.kind, entry.business_date)
    led = read_frame(
        conn,
        select(*keys, obligation.due_date, cast(func.sum(line.amount), BigInteger).label("amount"))
        .select_from(
            ledger_lines.join(journal_entries, entry.id == line.entry_id).outerjoin(
                obligations, obligation.id == line.obligation_id
            )
        )
        .where(
            entry.created_at < as_of,
            line.account.in_(_CUSTOMER_SIDE),
            line.customer_id.is_not(None),
            *_only(line.customer_id, ids),
        )
        .group_by(*keys, obligation.due_date),
    )
    led["amount"] = led["amount"].astype("int64")
    led["kind"] = led["kind"].astype(str).str.removeprefix("reversal:")  # a reversal nets its kind out
    led["day"] = pd.to_datetime(led["business_date"])
    led["due"] = pd.to_datetime(led["due_date"])
    year_ago = today - pd.Timedelta(days=365)
    receivable = led["account"].isin(_RECEIVABLE)
    out: dict[str, Any] = {}

    outstanding = (
        led[led["account"] == Account.CUSTOMER_PRINCIPAL.value].groupby("customer_id")["amount"].sum()
    )
    outstanding = outstanding.reindex(limits.index, fill_value=0)
    # current limit: there is no limit history (see the module docstring); no limit at all but
    # something owed counts as fully used
    out["utilisation"] = pd.Series(
        np.where(limits > 0, outstanding / limits.where(limits > 0), (outstanding > 0).astype(float)),
        index=limits.index,
    )

    this_year = led[led["day"] >= year_ago]
    returned = -this_year[this_year["kind"] == "return"].groupby("customer_id")["amount"].sum()
    charged = (
        this_year[this_year["kind"].isin(_PURCHASE_KINDS) & receivable].groupby("customer_id")["amount"].sum()
    )
    # both sides include fees, so a full return of an instalment order is 1; a return of goods
    # bought before the window can push it over, hence the cap
    out["return_rate_365d"] = (returned / charged.where(charged > 0)).clip(upper=1.0)

    # each obligation's balance at the end of each day, and what payments had paid by its due date
    lines = led[receivable & led["obligation_id"].notna()].assign(
        paid=lambda x: (-x["amount"]).where(x["kind"].isin(_PAYMENT_KINDS), 0)
    )
    daily = lines.groupby(["customer_id", "obligation_id", "due", "day"], as_index=False)[
        ["amount", "paid"]
    ].sum()
    daily["balance"] = daily.groupby("obligation_id")["amount"].cumsum()
    by_due = daily[daily["day"] <= daily["due"]].groupby("obligation_id")
    each = daily.groupby("obligation_id").agg(
        customer_id=("customer_id", "first"), due=("due", "first"), balance=("amount", "sum")
    )
    each["owed_at_due"] = by_due["amount"].sum().reindex(each.index, fill_value=0)
    each["paid_by_due"] = by_due["paid"].sum().reindex(each.index, fill_value=0)
    # due means its day is over and it was owed or paid; one returned or converted away before its
    # due date without a payment never was a bill to pay
    due = each[(each["due"] < today) & ((each["owed_at_due"] > 0) | (each["paid_by_due"] > 0))]
    on_time = (due["owed_at_due"] <= 0) & (due["paid_by_due"] > 0)
    out["on_time_ratio"] = on_time.groupby(due["customer_id"]).mean()
    out["obligations_due"] = due.groupby("customer_id").size()

    late = due[due["owed_at_due"] > 0].copy()
    cleared = (
        daily[(daily["day"] > daily["due"]) & (daily["balance"] <= 0)].groupby("obligation_id")["day"].min()
    )
    # overdue until the day it was cleared, or still overdue now
    open_now = late["balance"] > 0
    late["until"] = cleared.reindex(late.index).where(~open_now, today)
    late["dpd"] = (late["until"] - late["due"]).dt.days
    out["overdue_count_365d"] = late[late["due"] >= year_ago].groupby("customer_id").size()
    out["max_dpd_365d"] = late[late["until"] >= year_ago].groupby("customer_id")["dpd"].max()
    out["current_dpd"] = late[open_now].groupby("customer_id")["dpd"].max()
    return out
