"""Feed features, pure: against hand computations on small generated feeds, no look-ahead (adding
anything at or after T changes nothing at T), and the consent rule."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bnpl.credit.feed_features import FEED_FEATURE_NAMES, NEUTRAL, Feed, Stored, assemble, compute
from bnpl.domain.marketplace import (
    ConsentEvent,
    Engagement,
    FeedStatus,
    Order,
    Outcome,
    PaymentKind,
    PhoneTenure,
    Profile,
)
from bnpl.domain.orders import Channel

T = datetime(2026, 3, 1, 12, tzinfo=UTC)
GRANT = ConsentEvent(
    "grant", T - timedelta(days=400), "credit_assessment", ("profile", "order", "engagement"), "v1"
)


def order(
    days_before: float,
    amount: int = 100_00,
    outcome: Outcome = Outcome.COMPLETED,
    category: str = "snacks",
    channel: Channel = Channel.MALL,
    kind: PaymentKind = PaymentKind.WALLET,
    n: list[int] = [0],  # noqa: B006 - a counter for unique ids
) -> Order:
    n[0] += 1
    return Order(f"o{n[0]}", 1, T - timedelta(days=days_before), category, channel, amount, kind, outcome)


def feed(*records: object) -> Feed:
    return Feed(FeedStatus.OK, tuple(records), "Asia/Shanghai", GRANT)  # type: ignore[arg-type]


def test_profile_features_come_from_the_latest_profile_before_t() -> None:
    old = Profile(
        "p1", 1, T - timedelta(days=60), T - timedelta(days=1000), False, PhoneTenure.UNDER_1Y, 1, 5
    )
    new = Profile("p2", 1, T - timedelta(days=3), T - timedelta(days=1000), True, PhoneTenure.OVER_3Y, 3, 2)
    later = Profile("p3", 1, T, T - timedelta(days=1000), False, PhoneTenure.UNDER_6M, 9, 9)
    values = compute(feed(old, new, later), T).values
    assert values["mkt_account_age_days"] == 1000
    assert values["mkt_real_name_verified"] == 1
    assert values["mkt_phone_tenure_band"] == 4
    assert values["mkt_payment_methods"] == 3
    assert values["mkt_addresses_12m"] == 2


def test_a_new_phone_or_address_lately_is_a_contact_change() -> None:
    def profile(i: int, days_before: int, band: PhoneTenure, addresses: int) -> Profile:
        return Profile(
            f"c{i}", 1, T - timedelta(days=days_before), T - timedelta(days=900), True, band, 2, addresses
        )

    steady = profile(1, 200, PhoneTenure.OVER_3Y, 1)
    assert compute(feed(steady), T).values["mkt_contact_change_30d"] == 0  # one profile: nothing to compare
    new_phone = profile(2, 2, PhoneTenure.UNDER_6M, 1)
    assert compute(feed(steady, new_phone), T).values["mkt_contact_change_30d"] == 1
    assert (
        compute(feed(steady, profile(3, 2, PhoneTenure.OVER_3Y, 2)), T).values["mkt_contact_change_30d"] == 1
    )
    # fewer addresses or a longer-held number is no change of this kind; nor one 31 days ago
    assert (
        compute(feed(new_phone, profile(4, 1, PhoneTenure.OVER_3Y, 1)), T).values["mkt_contact_change_30d"]
        == 0
    )
    assert (
        compute(feed(steady, profile(5, 31, PhoneTenure.UNDER_6M, 3)), T).values["mkt_contact_change_30d"]
        == 0
    )
    # a change not yet seen at T is not counted
    later = Profile("c6", 1, T, T - timedelta(days=900), True, PhoneTenure.UNDER_6M, 2, 3)
    assert compute(feed(steady, later), T).values["mkt_contact_change_30d"] == 0


def test_order_features_by_hand() -> None:
    orders = [
        order(10, 200_00, channel=Channel.LIVE_STREAM),  # completed, everyday, live
        order(40, 100_00, category="phones"),  # completed, resale
        order(100, 300_00, Outcome.RETURNED, category="apparel"),
        order(200, 50_00, Outcome.CANCELLED),
        order(20, 80_00, Outcome.PAYMENT_FAILED, kind=PaymentKind.INSTALMENT),
        order(400, 999_00),  # older than a year: not counted
    ]
    v = compute(feed(*orders), T).values
    paid_days = [10, 40, 100]  # completed + returned (refunded would count too)
    assert v["mkt_orders_per_30d_12m"] == 3 * 30 / 365
    assert v["mkt_orders_per_30d_6m"] == 3 * 30 / 180
    gaps = [60.0, 30.0]  # 100 -> 40 -> 10 days before T
    assert math.isclose(v["mkt_gap_cv_12m"], statistics.pstdev(gaps) / statistics.fmean(gaps))
    assert math.isclose(v["mkt_trend_3m"], math.log2((2 + 1) / (1 + 1)))  # 2 in 90 days, 1 in the 90 before
    spend = (200_00 + 100_00) * 30 / 365  # only what was kept
    assert math.isclose(v["mkt_spend_per_30d_12m"], spend)
    assert v["mkt_median_basket_12m"] == 200_00
    assert math.isclose(v["mkt_spend_to_basket_12m"], spend / 200_00)
    assert math.isclose(v["mkt_everyday_share_12m"], 200_00 / 600_00)
    assert math.isclose(v["mkt_resale_share_12m"], 100_00 / 600_00)
    assert v["mkt_cancel_rate_12m"] == 1 / 5
    assert v["mkt_return_rate_12m"] == 1 / 5
    assert v["mkt_refund_rate_12m"] == 0
    assert v["mkt_payment_failed_rate_12m"] == 1 / 5
    assert v["mkt_payment_failed_90d"] == 1
    assert v["mkt_instalment_share_12m"] == 1 / 5
    assert math.isclose(v["mkt_live_share_12m"], 1 / 3)
    assert len(paid_days) == 3


def test_night_share_is_in_the_customers_local_time() -> None:
    def at(hour: int) -> Order:
        return Order(
            f"h{hour}",
            1,
            datetime(2026, 2, 1, hour, tzinfo=UTC),
            "tea",
            Channel.MALL,
            1,
            PaymentKind.WALLET,
            Outcome.COMPLETED,
        )

    # 20:00 UTC is 04:00 in Shanghai (night); 12:00 UTC is 20:00 there (evening)
    assert compute(feed(at(20), at(12)), T).values["mkt_night_share_12m"] == 0.5
    assert compute(Feed(FeedStatus.OK, (at(20), at(12)), "UTC", GRANT), T).values["mkt_night_share_12m"] == 0
    assert compute(Feed(FeedStatus.OK, (at(3),), "UTC", GRANT), T).values["mkt_night_share_12m"] == 1


def test_engagement_is_the_weekly_average_of_the_last_four_weeks() -> None:
    weeks = [
        Engagement(f"w{i}", 1, date(2026, 2, 23) - timedelta(days=7 * i), 100 * (i + 1)) for i in range(6)
    ]
    # ended before T and within 28 days: weeks starting 02-23 (ends 03-02: after T, not yet),
    # 02-16, 02-09, 02-02, 01-26 (ends 02-02, 27.5 days before T)
    v = compute(feed(*weeks), T).values
    assert v["mkt_live_minutes_per_week_4w"] == (200 + 300 + 400 + 500) / 4


def test_an_empty_feed_is_neutral_and_every_feature_has_a_value() -> None:
    assert compute(feed(), T).values == NEUTRAL
    assert set(compute(feed(order(5)), T).values) == set(FEED_FEATURE_NAMES)
    for status in (FeedStatus.NO_CONSENT, FeedStatus.WITHDRAWN, FeedStatus.NO_DATA):
        result = compute(Feed(status, (order(5),)), T)
        assert result.values == NEUTRAL and result.as_dict()["feed_status"] == status.value


# --- the consent rule --------------------------------------------------------------------------


def stored(record: object, ingested: datetime) -> Stored:
    return Stored(record, ingested)  # type: ignore[arg-type]


def test_consent_in_effect_at_t_is_the_last_event_before_t() -> None:
    granted = T - timedelta(days=30)
    rows = [stored(order(60), granted + timedelta(hours=1))]
    events = [ConsentEvent("grant", granted, "credit_assessment", ("order",), "v1")]
    assert assemble([], rows, T).status is FeedStatus.NO_CONSENT
    assert assemble(events, rows, T).status is FeedStatus.OK
    assert assemble(events, rows, granted).status is FeedStatus.NO_CONSENT  # not before T itself
    assert assemble(events, [], T).status is FeedStatus.NO_DATA
    # a record type outside the scope is not seen
    profile = Profile("p", 1, T - timedelta(days=2), T - timedelta(days=9), True, PhoneTenure.OVER_3Y, 1, 1)
    assert assemble(events, [stored(profile, granted + timedelta(hours=1))], T).status is FeedStatus.NO_DATA


def test_withdrawal_hides_everything_and_a_new_grant_sees_only_what_came_after_it() -> None:
    granted, withdrawn, regranted = T - timedelta(days=30), T - timedelta(days=20), T - timedelta(days=10)
    before = stored(order(25), granted + timedelta(hours=1))
    after = stored(order(5), regranted + timedelta(hours=1))
    events = [
        ConsentEvent("grant", granted, "credit_assessment", ("order",), "v1"),
        ConsentEvent("withdraw", withdrawn),
    ]
    feed_now = assemble(events, [before], T)
    assert feed_now.status is FeedStatus.WITHDRAWN and feed_now.records == ()
    assert compute(feed_now, T).values == NEUTRAL
    # as of a moment before the withdrawal the order was usable
    assert assemble(events, [before], withdrawn).records == (before.record,)
    events.append(ConsentEvent("grant", regranted, "credit_assessment", ("order",), "v2"))
    assert assemble(events, [before, after], T).records == (after.record,)


# --- no look-ahead: a property --------------------------------------------------------------------

_outcome = st.sampled_from(list(Outcome))
_channel = st.sampled_from(list(Channel))
_category = st.sampled_from(["snacks", "phones", "gold", "apparel", "tea", "toys"])


@st.composite
def orders_(draw: st.DrawFn, after: bool) -> Order:
    seconds = draw(st.integers(0, 400 * 86_400))
    at = T + timedelta(seconds=seconds) if after else T - timedelta(seconds=seconds + 1)
    return Order(
        draw(st.text("abc123", min_size=1, max_size=8)),
        1,
        at,
        draw(_category),
        draw(_channel),
        draw(st.integers(1, 10**8)),
        draw(st.sampled_from(list(PaymentKind))),
        draw(_outcome),
    )


@st.composite
def profiles_(draw: st.DrawFn, after: bool) -> Profile:
    seconds = draw(st.integers(0, 400 * 86_400))
    at = T + timedelta(seconds=seconds) if after else T - timedelta(seconds=seconds + 1)
    return Profile(
        "p",
        1,
        at,
        at - timedelta(days=draw(st.integers(0, 3000))),
        draw(st.booleans()),
        draw(st.sampled_from(list(PhoneTenure))),
        draw(st.integers(0, 100)),
        draw(st.integers(0, 1000)),
    )


@st.composite
def weeks_(draw: st.DrawFn, after: bool) -> Engagement:
    # a week's event time is its end: "after" weeks end at or after T
    days = draw(st.integers(0, 100))
    start = (
        (T.date() - timedelta(days=6)) + timedelta(days=days)
        if after
        else T.date() - timedelta(days=8 + days)
    )
    return Engagement("w", 1, start, draw(st.integers(0, 10_080)))


def _records(after: bool) -> st.SearchStrategy[list[object]]:
    return st.lists(st.one_of(orders_(after), profiles_(after), weeks_(after)), max_size=25)


@settings(max_examples=150, deadline=None)
@given(past=_records(False), future=_records(True), late_ingest=st.integers(0, 10**6))
def test_nothing_at_or_after_t_changes_the_features_at_t(
    past: list[object], future: list[object], late_ingest: int
) -> None:
    events = [GRANT]
    ingested = T - timedelta(seconds=1)
    base = [stored(r, ingested) for r in past]
    # later events, and earlier events that arrived at or after T
    extra = [stored(r, T + timedelta(seconds=late_ingest)) for r in future]
    extra += [stored(r, T + timedelta(seconds=late_ingest)) for r in past[:3]]
    events_later = [*events, ConsentEvent("withdraw", T + timedelta(seconds=late_ingest))]
    want = compute(assemble(events, base, T), T)
    assert compute(assemble(events, base + extra, T), T) == want
    assert compute(assemble(events_later, base + extra, T), T) == want
    # the pure computation alone also ignores events at or after T
    assert compute(Feed(want.status, tuple(past + future), "Asia/Shanghai", GRANT), T) == compute(
        Feed(want.status, tuple(past), "Asia/Shanghai", GRANT), T
    )
