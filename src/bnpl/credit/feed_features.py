"""Point-in-time credit features from the host marketplace's data feed, under the shopper's consent.

The full account is in docs/credit.md ("Features from the marketplace feed"). In short:
``assemble`` decides what may be seen at a moment T (consent in effect at T; rows ingested under
that consent and before T; events before T), ``compute`` turns that into numbers, both pure;
``load_feeds`` is the thin, set-based reader. Without consent or data every feature takes its ``neutral``
value, the value an empty feed gives, and ``FeedStatus`` says why.
"""

from __future__ import annotations

import functools
import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from bnpl.credit.features import FeatureSpec
from bnpl.domain.marketplace import (
    EVERYDAY_CATEGORIES,
    PAID_OUTCOMES,
    PHONE_TENURE_RANK,
    ConsentEvent,
    Engagement,
    FeedRecord,
    FeedStatus,
    Order,
    Outcome,
    PaymentKind,
    PhoneTenure,
    Profile,
    consent_at,
)
from bnpl.domain.orders import RESALE_CATEGORIES, Channel
from bnpl.store.bulk import among_named, chunks
from bnpl.store.direct import Direct
from bnpl.store.tables import (
    customers,
    marketplace_consents,
    marketplace_engagement,
    marketplace_orders,
    marketplace_profiles,
)

FEED_FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("mkt_account_age_days", "Marketplace account age", "电商账户开通时长", -1),
    FeatureSpec("mkt_real_name_verified", "Real-name verified on the marketplace", "电商平台已实名认证", -1),
    FeatureSpec("mkt_phone_tenure_band", "How long the phone number has been held", "手机号使用时长", -1),
    FeatureSpec("mkt_payment_methods", "Payment methods bound", "绑定的支付方式数", 0),
    FeatureSpec("mkt_addresses_12m", "Shipping addresses used, last 12 months", "近12个月收货地址数", +1),
    # a new phone number or another address on an old account, lately: how a takeover looks
    FeatureSpec(
        "mkt_contact_change_30d",
        "New phone number or address, last 30 days",
        "近30天更换手机号或新增地址",
        +1,
    ),
    FeatureSpec("mkt_orders_per_30d_6m", "Orders a month, last 6 months", "近6个月月均订单数", 0),
    FeatureSpec("mkt_orders_per_30d_12m", "Orders a month, last 12 months", "近12个月月均订单数", 0),
    FeatureSpec("mkt_gap_cv_12m", "Irregularity of purchases, last 12 months", "近12个月购物间隔波动", +1),
    FeatureSpec("mkt_trend_3m", "Purchases, last 3 months against the 3 before", "近3个月购物趋势", 0),
    FeatureSpec("mkt_spend_per_30d_12m", "Spending a month, last 12 months", "近12个月月均消费金额", 0),
    FeatureSpec("mkt_median_basket_12m", "Typical order value, last 12 months", "近12个月订单金额中位数", 0),
    FeatureSpec(
        "mkt_spend_to_basket_12m", "Monthly spending against typical order value", "月均消费与客单价之比", 0
    ),
    FeatureSpec("mkt_everyday_share_12m", "Share of spending on everyday goods", "日用品消费占比", -1),
    FeatureSpec("mkt_resale_share_12m", "Share of spending on easily resold goods", "易变现商品消费占比", +1),
    FeatureSpec("mkt_cancel_rate_12m", "Share of orders cancelled", "订单取消率", +1),
    # trying and returning is ordinary in live commerce; no expectation either way
    FeatureSpec("mkt_refund_rate_12m", "Share of orders refunded", "订单退款率", 0),
    FeatureSpec("mkt_return_rate_12m", "Share of orders returned", "订单退货率", 0),
    FeatureSpec("mkt_payment_failed_rate_12m", "Share of payments that failed", "支付失败率", +1),
    FeatureSpec("mkt_payment_failed_90d", "Failed payments, last 90 days", "近90天支付失败次数", +1),
    FeatureSpec(
        "mkt_instalment_share_12m", "Share of orders paid by instalments elsewhere", "他处分期支付占比", +1
    ),
    FeatureSpec("mkt_night_share_12m", "Share of orders placed 00:00–05:59", "凌晨（0–6点）下单占比", +1),
    FeatureSpec("mkt_live_share_12m", "Share of purchases from live streams", "直播间购物占比", +1),
    FeatureSpec(
        "mkt_live_minutes_per_week_4w", "Live-stream minutes a week, last 4 weeks", "近4周周均看播分钟数", 0
    ),
)
FEED_FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEED_FEATURES)
# the features of an empty feed: what no consent, a withdrawal, or no data give
NEUTRAL: dict[str, float] = {f.name: f.neutral for f in FEED_FEATURES}

_NIGHT_BEFORE_HOUR = 6


@dataclass(frozen=True)
class Stored:
    """A feed record as stored: the record and when it arrived."""

    record: FeedRecord
    ingested_at: datetime


@dataclass(frozen=True)
class Feed:
    """What may be used about one shopper at one moment."""

    status: FeedStatus
    records: tuple[FeedRecord, ...] = ()
    timezone: str = "Asia/Shanghai"
    consent: ConsentEvent | None = field(default=None)


@dataclass(frozen=True)
class FeedFeatures:
    status: FeedStatus
    values: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"feed_status": self.status.value, **self.values}


def assemble(
    consents: Sequence[ConsentEvent],
    stored: Sequence[Stored],
    as_of: datetime,
    timezone: str = "Asia/Shanghai",
) -> Feed:
    """The feed as it may be used at ``as_of``: only under the consent in effect then (the last
    consent event before it), only rows ingested under that consent and before ``as_of``, of the
    types it covers, and only events before ``as_of``. A withdrawal hides everything; a later
    grant sees only what arrives after it."""
    status, grant = consent_at(consents, as_of)
    if grant is None:
        return Feed(status, timezone=timezone)
    visible = tuple(
        s.record
        for s in stored
        if grant.at <= s.ingested_at < as_of and s.record.at < as_of and s.record.kind.value in grant.scope
    )
    return Feed(FeedStatus.OK if visible else FeedStatus.NO_DATA, visible, timezone, grant)


def compute(feed: Feed, as_of: datetime) -> FeedFeatures:
    """The feed features at ``as_of``. Pure; never looks at anything at or after ``as_of``."""
    values = dict(NEUTRAL)
    if feed.status is not FeedStatus.OK:
        return FeedFeatures(feed.status, values)
    records = [r for r in feed.records if r.at < as_of]
    profiles = [r for r in records if isinstance(r, Profile)]
    if profiles:
        ordered = sorted(profiles, key=lambda p: p.observed_at)
        latest = ordered[-1]
        values["mkt_contact_change_30d"] = float(
            len(ordered) >= 2
            and latest.observed_at >= as_of - timedelta(days=30)
            and _contact_changed(ordered[-2], latest)
        )
        values |= {
            "mkt_account_age_days": float(max(0, (as_of - latest.account_opened_at).days)),
            "mkt_real_name_verified": float(latest.real_name_verified),
            "mkt_phone_tenure_band": float(PHONE_TENURE_RANK[PhoneTenure(latest.phone_tenure_band)]),
            "mkt_payment_methods": float(latest.payment_methods),
            "mkt_addresses_12m": float(latest.addresses_12m),
        }
    orders = [r for r in records if isinstance(r, Order)]
    values |= _order_features(orders, as_of, ZoneInfo(feed.timezone))
    weeks = [r for r in records if isinstance(r, Engagement) and r.at > as_of - timedelta(days=28)]
    values["mkt_live_minutes_per_week_4w"] = sum(w.live_watch_minutes for w in weeks) / 4
    return FeedFeatures(feed.status, values)


def _contact_changed(before: Profile, after: Profile) -> bool:
    """A newer phone number (a lower tenure band) or more shipping addresses than before."""
    newer_phone = (
        PHONE_TENURE_RANK[PhoneTenure(after.phone_tenure_band)]
        < PHONE_TENURE_RANK[PhoneTenure(before.phone_tenure_band)]
    )
    return newer_phone or after.addresses_12m > before.addresses_12m


def _within(orders: Sequence[Order], as_of: datetime, days: int) -> list[Order]:
    since = as_of - timedelta(days=days)
    return [o for o in orders if since <= o.occurred_at < as_of]


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def _order_features(orders: Sequence[Order], as_of: datetime, zone: ZoneInfo) -> dict[str, float]:
    year = _within(orders, as_of, 365)
    if not year:
        return {}
    paid = sorted((o for o in year if o.outcome in PAID_OUTCOMES), key=lambda o: o.occurred_at)
    n = len(year)
    out: dict[str, float] = {
        "mkt_orders_per_30d_6m": sum(o.outcome in PAID_OUTCOMES for o in _within(orders, as_of, 180))
        * 30
        / 180,
        "mkt_orders_per_30d_12m": len(paid) * 30 / 365,
    }
    gaps = [(b.occurred_at - a.occurred_at).total_seconds() / 86_400 for a, b in itertools.pairwise(paid)]
    mean_gap = math.fsum(gaps) / len(gaps) if len(gaps) >= 2 else 0.0
    # the population sd in floats (statistics.pstdev is exact, in fractions, and slow)
    sd = math.sqrt(math.fsum((g - mean_gap) ** 2 for g in gaps) / len(gaps)) if mean_gap > 0 else 0.0
    out["mkt_gap_cv_12m"] = sd / mean_gap if mean_gap > 0 else 0.0
    recent = sum(o.outcome in PAID_OUTCOMES for o in _within(orders, as_of, 90))
    earlier = sum(o.outcome in PAID_OUTCOMES for o in _within(orders, as_of, 180)) - recent
    out["mkt_trend_3m"] = math.log2((recent + 1) / (earlier + 1))
    kept = sum(o.amount for o in paid if o.outcome is Outcome.COMPLETED)
    spend = kept * 30 / 365
    median = float(statistics.median(o.amount for o in paid)) if paid else 0.0
    out |= {
        "mkt_spend_per_30d_12m": float(spend),
        "mkt_median_basket_12m": median,
        "mkt_spend_to_basket_12m": _share(spend, median),
    }
    paid_total = sum(o.amount for o in paid)
    out["mkt_everyday_share_12m"] = _share(
        sum(o.amount for o in paid if o.category in EVERYDAY_CATEGORIES), paid_total
    )
    out["mkt_resale_share_12m"] = _share(
        sum(o.amount for o in paid if o.category in RESALE_CATEGORIES), paid_total
    )
    for outcome, name in (
        (Outcome.CANCELLED, "mkt_cancel_rate_12m"),
        (Outcome.REFUNDED, "mkt_refund_rate_12m"),
        (Outcome.RETURNED, "mkt_return_rate_12m"),
        (Outcome.PAYMENT_FAILED, "mkt_payment_failed_rate_12m"),
    ):
        out[name] = _share(sum(o.outcome is outcome for o in year), n)
    out["mkt_payment_failed_90d"] = float(
        sum(o.outcome is Outcome.PAYMENT_FAILED for o in _within(orders, as_of, 90))
    )
    out["mkt_instalment_share_12m"] = _share(sum(o.payment_kind is PaymentKind.INSTALMENT for o in year), n)
    out["mkt_night_share_12m"] = _share(
        sum(o.occurred_at.astimezone(zone).hour < _NIGHT_BEFORE_HOUR for o in year), n
    )
    out["mkt_live_share_12m"] = _share(sum(o.channel is Channel.LIVE_STREAM for o in paid), len(paid))
    return out


# --- reading ---------------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def load_feed(conn: Connection, customer_id: int, as_of: datetime) -> Feed:
    """One shopper's feed as it may be used at ``as_of`` (``load_feeds`` for one)."""
    return load_feeds(conn, [customer_id], as_of)[customer_id]


def load_feeds(conn: Connection, customer_ids: Sequence[int], as_of: datetime) -> dict[int, Feed]:
    """Each shopper's feed as it may be used at ``as_of``, set-based (one query per table for a
    chunk of shoppers): reads only consent events before it and rows with event time and ingestion
    time before it, then ``assemble`` applies each shopper's consent. Nothing of the feed is read
    for a shopper without consent in effect."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    as_of = as_of.astimezone(UTC)
    out: dict[int, Feed] = {}
    ids = sorted({int(i) for i in customer_ids})
    for chunk in chunks(conn, ids):  # PostgreSQL: all at once, one array parameter a statement
        out |= _load_chunk(conn, list(chunk), as_of)
    return out


# stored values to their enums by dict: an Enum call per row cost a fifth of a population's read
_CHANNELS = {c.value: c for c in Channel}
_PAYMENT_KINDS = {k.value: k for k in PaymentKind}
_OUTCOMES = {o.value: o for o in Outcome}


def _load_chunk(conn: Connection, ids: list[int], as_of: datetime) -> dict[int, Feed]:
    statements = _statements(conn.dialect.name == "postgresql")
    zones = {r.id: r.timezone for r in statements.zones.rows(conn, {"ids": ids})}
    consents: dict[int, list[ConsentEvent]] = {i: [] for i in ids}
    for r in statements.consents.rows(conn, {"ids": ids, "as_of": as_of}):
        consents[r.customer_id].append(
            ConsentEvent(r.action, _utc(r.at), r.purpose, tuple(r.scope or ()), r.notice_version)
        )
    grants = {i: consent_at(consents[i], as_of) for i in ids}
    granted = [i for i, (_, grant) in grants.items() if grant is not None]
    stored: dict[int, list[Stored]] = {i: [] for i in granted}
    if granted:
        earliest = min(grant.at for _, grant in (grants[i] for i in granted) if grant is not None)
        _read_rows(conn, statements, granted, as_of, earliest, stored)
    out: dict[int, Feed] = {}
    for i in ids:
        timezone = zones.get(i) or "Asia/Shanghai"
        status, grant = grants[i]
        if grant is None:  # nothing of the feed is even read
            out[i] = Feed(status, timezone=timezone)
        else:  # assemble keeps only what arrived under this shopper's own grant
            out[i] = assemble(consents[i], stored[i], as_of, timezone)
    return out


class _Statements(NamedTuple):
    zones: Direct
    consents: Direct
    profiles: Direct
    orders: Direct
    engagement: Direct


@functools.cache
def _statements(pg: bool) -> _Statements:
    """The feed's statements for the shoppers ``ids``, built once per dialect (``pg``: PostgreSQL,
    one array parameter, so each statement's text is the same whatever the number of shoppers:
    prepared once, not planned anew for each batch size of checkouts)."""
    c, p = marketplace_consents.c, marketplace_profiles.c
    o, e = marketplace_orders.c, marketplace_engagement.c
    as_of: Any = bindparam("as_of")
    since: Any = bindparam("since_grant")
    return _Statements(
        Direct(select(customers.c.id, customers.c.timezone).where(among_named(pg, customers.c.id, "ids"))),
        Direct(
            select(c.customer_id, c.action, c.at, c.purpose, c.scope, c.notice_version)
            .where(among_named(pg, c.customer_id, "ids"), c.at < as_of)
            .order_by(c.id)
        ),
        Direct(
            select(marketplace_profiles).where(
                among_named(pg, p.customer_id, "ids"),
                p.observed_at < as_of,
                p.ingested_at >= since,
                p.ingested_at < as_of,
            )
        ),
        Direct(
            select(marketplace_orders).where(
                among_named(pg, o.customer_id, "ids"),
                o.occurred_at < as_of,
                o.occurred_at >= bindparam("year_ago"),
                o.ingested_at >= since,
                o.ingested_at < as_of,
            )
        ),
        Direct(
            select(marketplace_engagement).where(
                among_named(pg, e.customer_id, "ids"),
                e.week_start >= bindparam("six_weeks_ago"),
                e.ingested_at >= since,
                e.ingested_at < as_of,
            )
        ),
    )


def _read_rows(
    conn: Connection,
    statements: _Statements,
    ids: list[int],
    as_of: datetime,
    since_grant: datetime,
    stored: dict[int, list[Stored]],
) -> None:
    """The profile, order and engagement rows of ``ids`` that ``compute`` could use at ``as_of``,
    ingested after the earliest of their grants (``assemble`` narrows each to its own grant)."""
    params = {"ids": ids, "as_of": as_of, "since_grant": since_grant}
    for r in statements.profiles.rows(conn, params):
        profile = Profile(
            r.event_id,
            r.customer_id,
            _utc(r.observed_at),
            _utc(r.account_opened_at),
            bool(r.real_name_verified),
            PhoneTenure(r.phone_tenure_band),
            r.payment_methods,
            r.addresses_12m,
        )
        stored[r.customer_id].append(Stored(profile, _utc(r.ingested_at)))
    for r in statements.orders.rows(conn, params | {"year_ago": as_of - timedelta(days=366)}):
        order = Order(
            r.event_id,
            r.customer_id,
            _utc(r.occurred_at),
            r.category,
            _CHANNELS[r.channel],
            r.amount,
            _PAYMENT_KINDS[r.payment_kind],
            _OUTCOMES[r.outcome],
        )
        stored[r.customer_id].append(Stored(order, _utc(r.ingested_at)))
    for r in statements.engagement.rows(
        conn, params | {"six_weeks_ago": (as_of - timedelta(days=42)).date()}
    ):
        week = Engagement(r.event_id, r.customer_id, r.week_start, r.live_watch_minutes)
        stored[r.customer_id].append(Stored(week, _utc(r.ingested_at)))


def feed_features(conn: Connection, customer_id: int, as_of: datetime) -> FeedFeatures:
    """The feed features of one shopper at ``as_of``, with their ``FeedStatus``."""
    return compute(load_feed(conn, customer_id, as_of), as_of.astimezone(UTC))


def feed_frame(conn: Connection, as_of: datetime, customer_ids: Sequence[int]) -> pd.DataFrame:
    """The feed features of many shoppers at ``as_of``: index ``customer_id``, columns
    ``FEED_FEATURE_NAMES`` and ``feed_status``."""
    moment = as_of.astimezone(UTC)
    feeds = load_feeds(conn, customer_ids, moment)
    rows = {cid: compute(feed, moment) for cid, feed in feeds.items()}
    frame = pd.DataFrame.from_dict(
        {cid: f.values for cid, f in rows.items()}, orient="index", columns=list(FEED_FEATURE_NAMES)
    ).astype(float)
    frame["feed_status"] = pd.Series({cid: f.status.value for cid, f in rows.items()}, dtype=object)
    frame.index.name = "customer_id"
    return frame
