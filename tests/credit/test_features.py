"""Point-in-time credit features: known answers, no look-ahead, one code path, neutral values.

Runs on SQLite and (when reachable) PostgreSQL. The clock here also pins the time of day, so a
test can place events before and after an ``as_of`` on the same business day, and at night.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import pandas as pd
import pytest

from bnpl.credit.features import FEATURE_NAMES, FEATURES, NEUTRAL, compute_features, features_for
from bnpl.domain.errors import NotFound
from bnpl.domain.orders import Item
from bnpl.runtime import ADMIN, Actor, Platform
from bnpl.services import credit_lines, orders, parties
from tests.conftest import START, TimeOfDayClock
from tests.world import World


def moment(day: int, hour: int) -> datetime:
    return datetime.combine(START + timedelta(days=day), time(hour), tzinfo=UTC)


@dataclass
class Shop:
    """The merchant (tea and phones, 7-day trial) and the customers of the scenario."""

    w: World
    clock: TimeOfDayClock
    x: int  # the main shopper (Asia/Shanghai)
    y: int  # another shopper (America/New_York)
    z: int  # signed up, never bought

    def at(self, day: int, hour: int = 10) -> Shop:
        self.clock.set(day, hour)
        return self

    def checkout(
        self,
        customer_id: int,
        *items: tuple[str, str, int],
        channel: str = "mall",
        device: str | None = None,
        address: str | None = None,
    ) -> dict:
        cmd = orders.AuthorizeCommand(
            self.w.merchant_id,
            customer_id,
            [Item(sku, category, price, 1) for sku, category, price in items],
            channel=channel,
            device_id=device,
            address_hash=address,
        )
        return self.w.platform.run(self.w.merchant, lambda c: orders.authorize(c, cmd))

    def buy(self, customer_id: int, *items: tuple[str, str, int], **how: str) -> int:
        """Checkout, shipment and delivery today: due ``trial_days`` (7) days from today."""
        order = self.checkout(customer_id, *items, **how)
        assert order["status"] == "authorized", order
        p = self.w.platform
        p.run(self.w.merchant, lambda c: orders.capture(c, order["id"]))
        p.run(Actor("customer", customer_id), lambda c: orders.deliver(c, order["id"]))
        return int(order["id"])

    def give_back(self, customer_id: int, order_id: int, sku: str) -> None:
        p = self.w.platform
        r = p.run(Actor("customer", customer_id), lambda c: orders.request_return(c, order_id, {sku: 1}))
        p.run(self.w.merchant, lambda c: orders.confirm_return(c, r["id"]))

    def repay(self, customer_id: int, amount: int) -> None:
        from bnpl.services import repayments

        self.w.platform.run(
            Actor("customer", customer_id), lambda c: repayments.repay(c, customer_id, amount)
        )

    def features(self, as_of: datetime, ids: list[int] | None = None) -> pd.DataFrame:
        with self.w.platform.read() as c:
            return compute_features(c.conn, as_of, ids)


T = moment(12, 12)  # mid-day: the same day also has events before (10:00) and after (14:00)


def history(platform: Platform) -> Shop:
    """Up to T: X buys three times and tries a fourth, returns a phone, pays one bill on time and
    one four days late, and still owes the third; Y buys once at night (New York) and never pays."""
    clock = TimeOfDayClock()
    platform.clock = clock
    w = World.create(platform, limit=1000_00, trial_days=7)

    def shopper(tz: str) -> int:
        return int(platform.run(ADMIN, lambda c: parties.create_customer(c, "Shopper", 1000_00, tz))["id"])

    shop = Shop(w, clock, w.customer_id, shopper("America/New_York"), shopper("Asia/Shanghai"))
    x, y = shop.x, shop.y
    shop.at(0).buy(x, ("phone-a", "phones", 300_00), channel="live_stream", device="dev-1", address="addr-1")
    # 20:00 UTC is 04:00 the next morning in Shanghai
    shop.at(1, 20).buy(x, ("tea-b", "tea", 200_00), channel="short_video", device="dev-2", address="addr-1")
    shop.at(1, 10).buy(y, ("tea-y", "tea", 80_00), device="dev-y")  # 05:00 in New York (EST)
    c_order = shop.at(2).buy(x, ("tea-c", "tea", 50_00), ("phone-c", "phones", 150_00))
    refused = shop.checkout(x, ("tea-big", "tea", 2000_00), device="dev-3")  # over the limit
    assert refused["status"] == "declined"
    shop.at(3).give_back(x, c_order, "phone-c")  # C now owes 50_00, due day 9
    shop.at(7).repay(x, 300_00)  # A, due day 7: on time
    shop.at(12).repay(x, 200_00)  # B, due day 8: paid on day 12, four days late
    return shop


def test_known_answers(platform: Platform) -> None:
    shop = history(platform)
    frame = shop.features(T)
    assert list(frame.columns) == list(FEATURE_NAMES) and frame.index.name == "customer_id"
    assert sorted(frame.index) == sorted([shop.x, shop.y, shop.z])
    assert all(t == "float64" for t in frame.dtypes) and not frame.isna().any().any()

    x = frame.loc[shop.x].to_dict()
    spent = 300_00 + 200_00 + 200_00
    assert x == pytest.approx(
        {
            "account_age_days": 12,
            **{f"orders_{d}d": 3 for d in (30, 90, 365)},
            **{f"gmv_{d}d": spent for d in (30, 90, 365)},
            **{f"avg_basket_{d}d": spent / 3 for d in (30, 90, 365)},
            "declined_orders_90d": 1,
            "resale_share_365d": (300_00 + 150_00) / spent,  # phones, at the price paid
            "categories_365d": 2,
            "live_share_365d": 1 / 3,
            "night_share_365d": 1 / 3,
            "return_rate_365d": 150_00 / spent,
            "on_time_ratio": 1 / 3,
            "obligations_due": 3,
            "overdue_count_365d": 2,
            "max_dpd_365d": 4,  # B: due day 8, paid day 12
            "current_dpd": 3,  # C: due day 9, still open on day 12
            "utilisation": 50_00 / 1000_00,
            "devices_90d": 3,  # the declined attempt's device counts
            "addresses_90d": 1,
            "device_shared_accounts_90d": 0,
        }
    )
    y = frame.loc[shop.y]
    assert (y["orders_30d"], y["night_share_365d"], y["current_dpd"], y["on_time_ratio"]) == (1, 1, 4, 0)


def test_a_customer_with_no_history_gets_the_neutral_values(platform: Platform) -> None:
    shop = history(platform)
    z = shop.features(T).loc[shop.z].to_dict()
    assert z == {**NEUTRAL, "account_age_days": 12.0}
    assert NEUTRAL["on_time_ratio"] == 1.0 and NEUTRAL["current_dpd"] == 0.0


def test_no_look_ahead(platform: Platform) -> None:
    shop = history(platform)
    before = shop.features(T)
    x, y = shop.x, shop.y

    # later the same day: another account on X's device, C paid off, a new live order
    shop.at(12, 14).buy(shop.z, ("tea-z", "tea", 10_00), device="dev-1")
    shop.repay(x, 50_00)  # nothing overdue any more: X may buy again
    d_order = shop.buy(x, ("phone-d", "phones", 100_00), channel="live_stream", device="dev-1")
    shop.at(13).give_back(x, d_order, "phone-d")  # D returned before its due date
    shop.buy(x, ("tea-e", "tea", 60_00), device="dev-4", address="addr-2")  # E due day 20
    shop.at(25).repay(x, 60_00)  # five days late
    shop.at(26).checkout(x, ("tea-huge", "tea", 5000_00))  # declined
    platform.run(ADMIN, lambda c: credit_lines.set_account(c, x, credit_limit=2000_00))

    again = shop.features(T)
    # the limit has no history, so utilisation follows today's limit (a documented exception)
    assert again.loc[x, "utilisation"] == before.loc[x, "utilisation"] / 2
    columns = [n for n in FEATURE_NAMES if n != "utilisation"]
    pd.testing.assert_frame_equal(again[columns], before[columns])

    later = shop.features(moment(26, 12)).loc[x]
    assert later["orders_30d"] == 5 and later["declined_orders_90d"] == 2
    assert later["device_shared_accounts_90d"] == 1 and later["devices_90d"] == 4
    assert later["current_dpd"] == 0 and later["max_dpd_365d"] == 5 and later["overdue_count_365d"] == 3
    # A on time; B, C and E late; D returned before it fell due, so never a bill
    assert later["on_time_ratio"] == pytest.approx(1 / 4) and later["obligations_due"] == 4
    assert later["return_rate_365d"] == pytest.approx((150_00 + 100_00) / (700_00 + 100_00 + 60_00))
    assert later["utilisation"] == 0
    assert shop.features(moment(26, 12)).loc[y, "current_dpd"] == 26 - 8


def test_features_for_is_the_matching_row(platform: Platform) -> None:
    shop = history(platform)
    for as_of in (moment(1, 12), T, moment(40, 0)):
        frame = shop.features(as_of)
        with platform.read() as c:
            for cid in (shop.x, shop.y, shop.z):
                assert features_for(c.conn, cid, as_of) == frame.loc[cid].to_dict()
    assert list(shop.features(T, [shop.y, shop.x]).index) == sorted([shop.x, shop.y])


def test_only_customers_that_existed_before_as_of(platform: Platform) -> None:
    shop = history(platform)
    assert shop.features(moment(0, 9)).empty
    assert shop.features(moment(0, 9), [shop.x]).empty
    with platform.read() as c, pytest.raises(NotFound):
        features_for(c.conn, shop.x, moment(0, 9))
    with pytest.raises(ValueError, match="timezone-aware"):
        shop.features(datetime(2026, 3, 20))


def test_the_specs_are_complete() -> None:
    assert len(set(FEATURE_NAMES)) == len(FEATURES)
    for f in FEATURES:
        assert f.en and f.zh and f.direction in (-1, 0, 1)
