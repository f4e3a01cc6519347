"""Cash-out (套现) collusion signals per merchant: known answers, no look-ahead, the checkout reads
the refreshed row, and the command line.

Runs on SQLite and (when reachable) PostgreSQL. The clock pins the time of day, so events can fall
before and after an ``as_of`` on the same business day.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select

from bnpl.domain.orders import Item
from bnpl.risk import graph
from bnpl.runtime import ADMIN, Actor, Platform
from bnpl.services import orders, parties, repayments
from bnpl.store.tables import decisions, merchant_risk
from tests.conftest import START, TimeOfDayClock


def moment(day: int, hour: int) -> datetime:
    return datetime.combine(START + timedelta(days=day), time(hour), tzinfo=UTC)


@dataclass
class Market:
    """Merchants and shoppers of the scenario, and the verbs to move them."""

    p: Platform
    clock: TimeOfDayClock

    def at(self, day: int, hour: int = 10, minute: int = 0) -> Market:
        self.clock.set(day, hour, minute)
        return self

    def merchant(self, name: str) -> int:
        m = self.p.run(ADMIN, lambda c: parties.create_merchant(c, name, 100, 7, 3, ["tea", "phones"]))
        return int(m["id"])

    def customer(self, limit: int = 1000_00) -> int:
        return int(self.p.run(ADMIN, lambda c: parties.create_customer(c, "Shopper", limit))["id"])

    def checkout(
        self,
        merchant_id: int,
        customer_id: int,
        *items: tuple[str, str, int],
        device: str | None = None,
        address: str | None = None,
    ) -> dict[str, Any]:
        cmd = orders.AuthorizeCommand(
            merchant_id,
            customer_id,
            [Item(sku, category, price, 1) for sku, category, price in items],
            device_id=device,
            address_hash=address,
        )
        return self.p.run(Actor("merchant", merchant_id), lambda c: orders.authorize(c, cmd))

    def buy(self, merchant_id: int, customer_id: int, *items: tuple[str, str, int], **keys: str) -> int:
        """Checkout, shipment and delivery today: with the 7-day trial, due 7 days from today."""
        order = self.checkout(merchant_id, customer_id, *items, **keys)
        assert order["status"] == "authorized", order
        self.p.run(Actor("merchant", merchant_id), lambda c: orders.capture(c, order["id"]))
        self.p.run(Actor("customer", customer_id), lambda c: orders.deliver(c, order["id"]))
        return int(order["id"])

    def give_back(self, merchant_id: int, customer_id: int, order_id: int, sku: str) -> None:
        r = self.p.run(Actor("customer", customer_id), lambda c: orders.request_return(c, order_id, {sku: 1}))
        self.p.run(Actor("merchant", merchant_id), lambda c: orders.confirm_return(c, r["id"]))

    def repay(self, customer_id: int, amount: int) -> None:
        self.p.run(Actor("customer", customer_id), lambda c: repayments.repay(c, customer_id, amount))

    def compute(self, as_of: datetime) -> tuple[pd.DataFrame, dict[str, Any]]:
        with self.p.read() as c:
            return graph.compute(c.conn, as_of)


@dataclass
class Scenario:
    m: Market
    honest: int
    colluder: int
    other: int  # where a ring member only tried to check out once
    shoppers: list[int]  # the honest merchant's four customers
    ring: list[int]  # the five colluding accounts


def scenario(platform: Platform) -> Scenario:
    """Day 0: four shoppers buy at an honest tea shop, each on their own device (two share a home
    address); five accounts buy phones at a colluding shop on two devices, and one of them links the
    two devices by trying a checkout on the second one at a third merchant. Day 2: one honest
    shopper returns an item. Day 7 (every first bill's due date): three honest shoppers pay; the
    fourth pays on day 16; the ring never pays and returns nothing."""
    clock = TimeOfDayClock()
    platform.clock = clock
    m = Market(platform, clock)
    honest, colluder, other = m.merchant("Tea House"), m.merchant("Phone Outlet"), m.merchant("Elsewhere")
    h = [m.customer() for _ in range(4)]
    ring = [m.customer() for _ in range(5)]
    m.at(0)
    first = m.buy(
        honest, h[0], ("tea-a", "tea", 100_00), ("tea-b", "tea", 50_00), device="h-1", address="a-1"
    )
    m.buy(honest, h[1], ("tea-a", "tea", 100_00), device="h-2", address="a-2")
    m.buy(honest, h[2], ("tea-a", "tea", 100_00), device="h-3", address="home")
    m.buy(honest, h[3], ("tea-a", "tea", 100_00), device="h-4", address="home")  # a household of two
    for i, c in enumerate(ring):
        m.buy(colluder, c, ("phone", "phones", 300_00), device="ring-A" if i < 3 else "ring-B")
    linked = m.checkout(other, ring[2], ("tea", "tea", 20_00), device="ring-B")  # never shipped
    assert linked["status"] == "authorized"
    m.at(2).give_back(honest, h[0], first, "tea-b")
    m.at(7)
    for c in h[:3]:
        m.repay(c, 100_00)
    return Scenario(m, honest, colluder, other, h, ring)


T = moment(15, 12)  # first bills (due day 7) are 8 days past due


def test_known_answers(platform: Platform) -> None:
    s = scenario(platform)
    frame, whole = s.m.compute(T)
    assert list(frame.columns) == list(graph.COLUMNS)
    assert sorted(frame.index) == sorted([s.honest, s.colluder, s.other])

    honest = frame.loc[s.honest].to_dict()
    assert honest == pytest.approx(
        {
            "customers": 4,
            "orders": 4,
            "amount": 450_00,
            "ring_customers": 0,  # the household of two is not a ring
            "ring_share": 0.0,
            "largest_ring": 0,
            "return_rate": 50_00 / 450_00,
            "first_bills_due": 4,
            "first_bill_defaults": 1,  # the fourth shopper has not paid yet, 8 days past due
            "first_bill_default_rate": 0.25,
            "cashout_score": 0.0,
        }
    )
    colluder = frame.loc[s.colluder].to_dict()
    assert colluder == pytest.approx(
        {
            "customers": 5,
            "orders": 5,
            "amount": 1500_00,
            "ring_customers": 5,  # one component: ring-A and ring-B are joined at another merchant
            "ring_share": 1.0,
            "largest_ring": 5,
            "return_rate": 0.0,
            "first_bills_due": 5,
            "first_bill_defaults": 5,
            "first_bill_default_rate": 1.0,
            "cashout_score": 1.0,
        }
    )
    assert frame.loc[s.other, "orders"] == 0 and frame.loc[s.other, "cashout_score"] == 0
    assert frame.loc[s.colluder, "cashout_score"] > frame.loc[s.honest, "cashout_score"]
    assert whole == {
        "customers": 9,
        "devices_and_addresses": 4 + 2 + 3,  # h-1..h-4, ring-A, ring-B; a-1, a-2, home
        "rings": 1,
        "ring_customers": 5,
        "largest_component": 5,
        "merchants": 3,
    }


def test_a_ring_is_joined_only_through_shared_devices_or_addresses(platform: Platform) -> None:
    s = scenario(platform)
    assert s.m.compute(moment(0, 9))[0].empty  # before the first checkout: no merchant at all
    # day 95: five new accounts buy at the colluder on two devices that nothing links (day 0 is
    # out of the 90-day window): components of three and two, and only the three are a ring
    s.m.at(95)
    m = s.m
    late = [m.customer() for _ in range(5)]
    for i, c in enumerate(late):
        m.buy(s.colluder, c, ("phone", "phones", 300_00), device="late-A" if i < 3 else "late-B")
    frame, whole = m.compute(moment(95, 23))  # the window (90 days) no longer holds day 0
    row = frame.loc[s.colluder]
    assert (row["customers"], row["ring_customers"], row["largest_ring"]) == (5, 3, 3)
    assert row["ring_share"] == pytest.approx(3 / 5)
    assert row["cashout_score"] == pytest.approx(3 / 5 * 0.7)  # no bill due yet, nothing returned
    assert whole["rings"] == 1 and whole["customers"] == 5
    assert sorted(frame.index) == [s.colluder]


def test_an_early_warning_before_any_bill_is_due_and_a_late_payment_no_longer_counts(
    platform: Platform,
) -> None:
    s = scenario(platform)
    early = s.m.compute(moment(10, 12))[0]  # first bills 3 days past due: not yet counted
    assert early.loc[s.colluder, "first_bills_due"] == 0
    assert early.loc[s.colluder, "first_bill_default_rate"] == 0
    assert early.loc[s.colluder, "cashout_score"] == pytest.approx(0.7)  # a ring that keeps everything
    s.m.at(16).repay(s.shoppers[3], 100_00)
    later = s.m.compute(moment(17, 12))[0]
    assert later.loc[s.honest, "first_bill_defaults"] == 0  # paid at last
    assert later.loc[s.colluder, "first_bill_defaults"] == 5


def test_nothing_after_as_of_is_seen(platform: Platform) -> None:
    s = scenario(platform)
    before, whole_before = s.m.compute(T)
    m = s.m
    # the same day after T, and the days after: new ring members on the ring's devices, payments,
    # a new honest shopper, and a new merchant
    m.at(15, 14)
    newcomer = m.customer()
    m.buy(s.colluder, newcomer, ("phone", "phones", 300_00), device="ring-A")
    m.repay(s.ring[0], 300_00)
    m.repay(s.shoppers[3], 100_00)
    m.at(16)
    fresh = m.customer()
    m.buy(s.honest, fresh, ("tea-a", "tea", 100_00), device="ring-B", address="home")
    m.buy(m.merchant("New Shop"), fresh, ("tea-a", "tea", 100_00), device="new")
    after, whole_after = m.compute(T)
    pd.testing.assert_frame_equal(before, after)
    assert whole_before == whole_after
    assert m.compute(moment(16, 23))[0].loc[s.colluder, "customers"] == 6  # the later view differs


def test_the_first_bill_of_a_converted_order_is_its_first_instalment(platform: Platform) -> None:
    clock = TimeOfDayClock()
    platform.clock = clock
    m = Market(platform, clock)
    shop, shopper = m.merchant("Tea House"), m.customer()
    order = m.at(0).buy(shop, shopper, ("tea-a", "tea", 300_00))
    m.at(1).p.run(Actor("customer", shopper), lambda c: orders.convert_plan(c, order, "m3"))
    # the pay-after-trial bill (due day 7) was converted away: it never was a bill to pay
    row = m.compute(moment(20, 12))[0].loc[shop]
    assert (row["first_bills_due"], row["first_bill_defaults"]) == (0, 0)
    row = m.compute(moment(45, 12))[0].loc[shop]  # the first instalment fell due on day 37
    assert (row["first_bills_due"], row["first_bill_defaults"]) == (1, 1)
    assert row["return_rate"] == 0


def test_refresh_writes_one_row_per_merchant_and_the_checkout_reads_it(platform: Platform) -> None:
    s = scenario(platform)
    m = s.m
    summary = graph.refresh(platform, as_of=T)
    assert summary["merchants"] == 3 and summary["flagged"] == 1
    assert [t["merchant_id"] for t in summary["top"]] == [s.colluder]
    with platform.read() as c:
        assert c.conn.execute(select(func.count()).select_from(merchant_risk)).scalar_one() == 3
        shown = graph.show(c, s.colluder)
    assert shown["signals"]["cashout_score"] == 1.0 and shown["signals"]["largest_ring"] == 5
    assert shown["as_of"] == T.isoformat()
    assert shown["checkout_reads"] == {
        "merchant.cashout_score": 1.0,
        "merchant.ring_share": 1.0,
        "merchant.first_bill_default_rate": 1.0,
    }

    def signals(order: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        with platform.read() as c:
            row = c.conn.execute(
                select(decisions.c.inputs, decisions.c.rule_hits).where(
                    decisions.c.id == order["decision"]["id"]
                )
            ).one()
        return row.inputs["signals"], [(h["rule_id"], h["mode"]) for h in row.rule_hits["hits"]]

    m.at(15, 13)
    newcomer = m.customer()
    at_colluder = m.checkout(s.colluder, newcomer, ("phone", "phones", 200_00))
    values, hits = signals(at_colluder)
    assert Decimal(values["merchant.cashout_score"]) == 1
    assert Decimal(values["merchant.ring_share"]) == 1
    assert Decimal(values["merchant.first_bill_default_rate"]) == 1
    assert ("cashout-merchant", "shadow") in hits
    assert at_colluder["status"] == "authorized"  # shadow: recorded, the outcome unchanged
    values, hits = signals(m.checkout(s.honest, newcomer, ("phone", "phones", 200_00)))
    assert Decimal(values["merchant.first_bill_default_rate"]) == Decimal("0.25")
    assert Decimal(values["merchant.cashout_score"]) == 0 and ("cashout-merchant", "shadow") not in hits
    values, hits = signals(m.checkout(m.merchant("No Row Yet"), newcomer, ("phone", "phones", 200_00)))
    assert Decimal(values["merchant.cashout_score"]) == 0 and Decimal(values["merchant.ring_share"]) == 0
    # tea is not easily resold: the score alone does not fire the rule
    values, hits = signals(m.checkout(s.colluder, newcomer, ("tea", "tea", 20_00)))
    assert Decimal(values["merchant.cashout_score"]) == 1 and ("cashout-merchant", "shadow") not in hits

    # a later refresh replaces every row; a merchant without checkouts in the window has none
    again = graph.refresh(platform, as_of=moment(200, 0))
    assert again["merchants"] == 0 and again["top"] == []
    with platform.read() as c:
        assert c.conn.execute(select(func.count()).select_from(merchant_risk)).scalar_one() == 0
        assert graph.show(c, s.colluder)["checkout_reads"]["merchant.cashout_score"] == 0


def test_refresh_defaults_to_now_on_the_business_clock(platform: Platform) -> None:
    s = scenario(platform)
    s.m.at(15, 12)
    summary = graph.refresh(platform)
    assert summary["as_of"] == T.isoformat() and summary["rings"] == 1
    with pytest.raises(ValueError, match="timezone-aware"), platform.read() as c:
        graph.compute(c.conn, datetime(2026, 3, 2))
    with pytest.raises(ValueError, match="timezone-aware"):
        graph.refresh(platform, as_of=datetime(2026, 3, 2))


# --- the command line ------------------------------------------------------------------------


def test_refresh_and_show_from_the_command_line(bnpl: Any) -> None:
    merchant = json.loads(
        bnpl("merchant", "create", "Tea House", "--mdr-bps", "80", "--category", "tea").stdout
    )
    customer = json.loads(bnpl("customer", "create", "Shopper", "--limit", "50000").stdout)
    order = json.loads(
        bnpl(
            "order", "authorize", "--merchant", str(merchant["id"]), "--customer", str(customer["id"]),
            "--item", "tea-1:tea:12000:1",
        ).stdout
    )  # fmt: skip
    bnpl("order", "capture", str(order["id"]))
    assert json.loads(bnpl("risk", "exposure", "refresh").stdout)["platform_outstanding"] == 12000
    summary = json.loads(bnpl("risk", "graph", "refresh").stdout)
    assert (summary["merchants"], summary["customers"], summary["rings"]) == (1, 1, 0)
    assert summary["as_of"].startswith("2026-03-02")
    shown = json.loads(bnpl("risk", "graph", "show", str(merchant["id"])).stdout)
    assert shown["signals"]["orders"] == 1 and shown["signals"]["amount"] == 12000
    assert shown["checkout_reads"]["merchant.cashout_score"] == 0

    unknown = bnpl("risk", "graph", "show", "42", ok=False)
    assert unknown.returncode != 0 and unknown.stdout == ""
    assert unknown.stderr.strip() == "error: merchant 42 not found"
    assert len(unknown.stderr.strip().splitlines()) == 1
    bad = bnpl("risk", "graph", "refresh", "--lookback-days", "0", ok=False)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: --lookback-days must be between 1 and 365"
