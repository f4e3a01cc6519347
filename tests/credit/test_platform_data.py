"""The platform's own training table: matured orders only, labels from the ledger as it stood,
features as of the day of each order. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from bnpl.credit.dataset import DatasetError
from bnpl.credit.model_features import MODEL_FEATURE_NAMES
from bnpl.credit.platform_data import labels, platform_dataset
from bnpl.domain.orders import Item
from bnpl.runtime import ADMIN, Actor, Platform
from bnpl.services import credit_lines, orders, repayments
from tests.conftest import START
from tests.world import World

N = 60


def day(n: int) -> datetime:
    return datetime.combine(START + timedelta(days=n), time(23, 59), tzinfo=UTC)


class Shop:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.w = World.create(platform)
        self.customers = [self.w.new_customer(limit=1000_00) for _ in range(N)]

    def authorize(self, cid: int) -> dict[str, Any]:
        cmd = orders.AuthorizeCommand(self.w.merchant_id, cid, [Item("tea", "tea", 100_00, 1)])
        answer = self.platform.run(self.w.merchant, lambda c: orders.authorize(c, cmd))
        return self.w.order(answer["id"])

    def buy(self, cid: int) -> int:
        p = self.platform
        order = self.authorize(cid)
        assert order["status"] == "authorized"
        p.run(self.w.merchant, lambda c: orders.capture(c, order["id"]))
        p.run(Actor("customer", cid), lambda c: orders.deliver(c, order["id"]))
        return int(order["id"])

    def pay(self, cid: int, amount: int = 100_00) -> None:
        self.platform.run(Actor("customer", cid), lambda c: repayments.repay(c, cid, amount))


def test_matured_orders_their_outcomes_and_features_as_they_were(platform: Platform) -> None:
    """Customers sign up on day 0 and buy on day 5 (due day 12). Every fourth never pays; one pays
    on day 30 (18 days late: good); one pays on day 50 (after day 42, the 30-day cut-off: bad);
    a few "slow" ones pay on day 19. On day 20 every fifth buys again (due day 27), but for the
    never-payers, who are refused while overdue; the slow ones never pay that second bill."""
    shop = Shop(platform)
    cs = shop.customers
    never = set(cs[::4])
    late_ok, too_late = cs[1], cs[2]
    slow = set(cs[5::10])
    platform.clock.advance(5)
    first = {cid: shop.buy(cid) for cid in cs}
    twice = shop.buy(cs[7])  # a second order the same day: its decision saw 100 yuan in use
    platform.clock.advance(7)  # day 12: the first bills are due
    for cid in set(cs) - never - slow - {late_ok, too_late}:
        shop.pay(cid)
    shop.pay(cs[7])
    platform.clock.advance(7)  # day 19
    for cid in slow:
        shop.pay(cid)
    platform.clock.advance(1)  # day 20
    second = {cid: shop.buy(cid) for cid in cs[::5] if cid not in never}
    refused = shop.authorize(cs[0])
    assert refused["decision"]["reasons"][0]["code"] == "PAYMENT_OVERDUE"
    platform.clock.advance(7)  # day 27: the second bills are due and paid, but by the slow ones
    for cid in set(second) - slow:
        shop.pay(cid)
    platform.clock.advance(3)  # day 30
    shop.pay(late_ok)
    platform.clock.advance(20)  # day 50
    shop.pay(too_late)

    # as of day 50, before the last payment: bills due by day 20 have matured, so first orders only
    with platform.read() as c:
        at_50 = labels(c.conn, day(49))
    assert list(at_50["order_id"]) == sorted([*first.values(), twice])
    bad = dict(zip(at_50["customer_id"], at_50["bad"], strict=True))
    assert {c for c, b in bad.items() if b} == never | {too_late}

    # as of day 60 the second orders (due 27) have matured too; too_late's payment on day 50 came
    # after its cut-off, so it stays bad
    with platform.read() as c:
        ds = platform_dataset(c.conn, day(60))
        outcome = labels(c.conn, day(60))
    assert len(ds.bad) == N + 1 + len(second) and list(ds.frame.columns) == list(MODEL_FEATURE_NAMES)
    # utilisation as each decision saw it: a later limit change does not rewrite history
    used = dict(zip(outcome["order_id"], ds.frame["utilisation"], strict=True))
    assert used[twice] == 100_00 / 1000_00 and used[first[cs[7]]] == 0
    platform.run(ADMIN, lambda c: credit_lines.set_account(c, cs[7], credit_limit=5000_00))
    with platform.read() as c:
        assert platform_dataset(c.conn, day(60)).fingerprint == ds.fingerprint
    assert int(ds.bad.sum()) == len(never) + 1 + len(slow)
    frame = ds.frame.assign(order_id=outcome["order_id"].to_numpy(), bad=ds.bad)

    # features on day 5: signed up five days before, nothing bought yet
    firsts = frame[frame["order_id"].isin(first.values())]
    assert (firsts["account_age_days"] == 5).all() and (firsts["orders_365d"] == 0).all()
    # features on day 20: the first order and how it was paid, not the second
    seconds = frame.set_index("order_id").loc[list(second.values())]
    assert (seconds["orders_365d"] == 1).all() and (seconds["obligations_due"] == 1).all()
    by_order = {order_id: cid for cid, order_id in second.items()}
    for order_id, row in seconds.iterrows():
        late = by_order[order_id] in slow
        assert (row["on_time_ratio"], row["max_dpd_365d"], row["current_dpd"]) == (
            (0, 7, 0) if late else (1, 0, 0)
        )


def test_nothing_matured_is_a_clear_error(platform: Platform) -> None:
    shop = Shop(platform)
    shop.buy(shop.customers[0])
    with platform.read() as c, pytest.raises(DatasetError, match="matured"):
        platform_dataset(c.conn, day(20))
    with platform.read() as c, pytest.raises(ValueError, match="timezone-aware"):
        platform_dataset(c.conn, datetime(2026, 5, 1))
