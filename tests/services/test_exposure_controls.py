"""Exposure caps, the customer's own controls and affordability, through the real checkout.
SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bnpl.domain.errors import Forbidden, InvalidInput, NotFound
from bnpl.domain.orders import Item
from bnpl.runtime import ADMIN, Actor, Platform
from bnpl.services import audit, credit_lines, exposure, orders, parties
from bnpl.store.tables import credit_profiles, exposure_snapshots
from tests.world import World


def snapshot(platform: Platform) -> dict[str, int]:
    with platform.read() as c:
        return dict(
            c.conn.execute(select(exposure_snapshots.c.scope, exposure_snapshots.c.outstanding)).all()
        )


def reasons(order: dict[str, Any]) -> list[str]:
    return [r["code"] for r in order["decision"]["reasons"]]


def test_exposure_snapshots_follow_the_ledger(platform: Platform) -> None:
    w = World.create(platform)
    other = platform.run(ADMIN, lambda c: parties.create_merchant(c, "Other", 100, 7, 3, ["tea"]))
    w.buy(("tea", 300_00, 1))
    w.buy(("tea", 200_00, 1), plan="m3")
    w.authorize(("tea", 50_00, 1))  # a hold: not owed yet, but the merchant may still capture it
    assert exposure.refresh(platform)["platform_outstanding"] == 550_00
    assert snapshot(platform) == {f"merchant:{w.merchant_id}": 550_00, "platform": 550_00}
    w.repay(300_00)
    exposure.refresh(platform)  # a refresh replaces the snapshot; merchants without orders have none
    assert snapshot(platform) == {f"merchant:{w.merchant_id}": 250_00, "platform": 250_00}
    assert f"merchant:{other['id']}" not in snapshot(platform)


def test_a_merchant_cap_refuses_what_would_exceed_it(platform: Platform) -> None:
    w = World.create(platform)
    w.buy(("tea", 1000_00, 1))
    platform.run(ADMIN, lambda c: parties.set_merchant_cap(c, w.merchant_id, 2200_00))
    with platform.read(ADMIN) as c:
        assert parties.get_merchant(c, w.merchant_id)["outstanding_cap"] == 2200_00
    second = w.new_customer()
    # no snapshot yet: the merchant counts as having nothing outstanding, and the cap still applies
    assert reasons(w.authorize(("tea", 2200_01, 1), customer_id=second)) == ["MERCHANT_EXPOSURE"]
    assert w.authorize(("tea", 600_00, 1), customer_id=second)["status"] == "authorized"
    exposure.refresh(platform)  # 1,000 owed and 600 held
    third = w.new_customer()
    refused = w.authorize(("tea", 601_00, 1), customer_id=third)
    assert refused["status"] == "declined" and reasons(refused) == ["MERCHANT_EXPOSURE"]
    assert w.authorize(("tea", 600_00, 1), customer_id=third)["status"] == "authorized"
    fresh = platform.run(ADMIN, lambda c: parties.create_merchant(c, "Fresh", 100, 7, 3, ["tea"]))
    platform.run(ADMIN, lambda c: parties.set_merchant_cap(c, fresh["id"], 0))
    cmd = orders.AuthorizeCommand(fresh["id"], third, [Item("tea", "tea", 1_00, 1)])
    assert reasons(platform.run(ADMIN, lambda c: orders.authorize(c, cmd))) == ["MERCHANT_EXPOSURE"]
    with pytest.raises(Forbidden):
        platform.run(w.merchant, lambda c: parties.set_merchant_cap(c, w.merchant_id, 10**9))
    with pytest.raises(NotFound):
        platform.run(ADMIN, lambda c: parties.set_merchant_cap(c, 999, 1))
    with platform.read() as c:
        assert not audit.verify(c.conn)[1]


def test_a_customer_pauses_and_sets_a_ceiling_of_their_own(platform: Platform) -> None:
    w = World.create(platform)
    me = w.customer
    account = platform.run(me, lambda c: credit_lines.set_controls(c, w.customer_id, pause_days=3))
    assert account["paused_until"] == str(platform.clock.today().replace(day=platform.clock.today().day + 2))
    assert reasons(w.authorize(("tea", 10_00, 1))) == ["PAUSED_BY_CUSTOMER"]
    platform.clock.advance(3)
    assert w.authorize(("tea", 10_00, 1))["status"] == "authorized"

    platform.run(me, lambda c: credit_lines.set_controls(c, w.customer_id, own_limit=300_00))
    lower = w.authorize(("tea", 400_00, 1))
    assert lower["decision"]["approved_amount"] == 290_00 and reasons(lower) == ["OWN_LIMIT"]
    platform.run(me, lambda c: credit_lines.set_controls(c, w.customer_id, own_limit=None))
    assert w.authorize(("tea", 400_00, 1))["status"] == "authorized"

    platform.run(me, lambda c: credit_lines.set_controls(c, w.customer_id, pause_days=30))
    platform.run(me, lambda c: credit_lines.set_controls(c, w.customer_id, pause_days=0))  # resume now
    assert w.account()["paused_until"] is None

    someone = Actor("customer", w.new_customer())
    for bad, error in (
        (lambda c: credit_lines.set_controls(c, w.customer_id, pause_days=1), NotFound),
        (lambda c: credit_lines.set_controls(c, someone.subject_id, pause_days=400), InvalidInput),
        (lambda c: credit_lines.set_controls(c, someone.subject_id, own_limit=-1), InvalidInput),
        (lambda c: credit_lines.set_controls(c, someone.subject_id), InvalidInput),
    ):
        with pytest.raises(error):
            platform.run(someone, bad)
    with pytest.raises(Forbidden):
        platform.run(w.merchant, lambda c: credit_lines.set_controls(c, w.customer_id, pause_days=1))
    with platform.read() as c:
        assert not audit.verify(c.conn)[1]


def test_affordability_nudges_from_observed_spending(platform: Platform) -> None:
    w = World.create(platform, limit=5000_00)
    # a month of history: 500 yuan spent, a bill paid
    with platform.engine.begin() as conn:
        conn.execute(
            credit_profiles.insert().values(
                customer_id=w.customer_id,
                as_of=platform.clock.now(),
                features={"account_age_days": 30.0, "gmv_365d": 500_00.0, "obligations_due": 1.0},
                updated_at=platform.clock.now(),
            )
        )
    assert reasons(w.authorize(("tea", 400_00, 1))) == ["WITHIN_LIMIT"]
    # what is held counts as due next month: 400 + 200 is more than a month of spending
    nudged = w.authorize(("tea", 200_00, 1))
    assert nudged["status"] == "authorized" and reasons(nudged) == ["WITHIN_LIMIT", "AFFORDABILITY_NUDGE"]
    lower = w.authorize(("tea", 1200_00, 1))  # 600 + 1200 is more than twice a month's spending
    assert lower["decision"]["outcome"] == "approve_lower" and lower["decision"]["approved_amount"] == 399_00
    # in twelve monthly instalments the first bill is about a twelfth: it fits, with a nudge
    assert reasons(w.authorize(("tea", 1200_00, 1), plan="m12")) == ["WITHIN_LIMIT", "AFFORDABILITY_NUDGE"]


def test_categories_have_one_spelling(platform: Platform) -> None:
    w = World.create(platform, limit=10_000_00)
    shop = platform.run(ADMIN, lambda c: parties.create_merchant(c, "Any", 100, 7, 3, None))
    for spelling in ("Gold", "gold ", " GOLD", "ｇｏｌｄ"):
        cmd = orders.AuthorizeCommand(shop["id"], w.customer_id, [Item("bar", spelling, 4000_00, 1)])
        answer = platform.run(ADMIN, lambda c, cmd=cmd: orders.authorize(c, cmd))
        assert reasons(answer) == ["CATEGORY_CAP"], spelling
        assert answer["items"][0]["category"] == "gold"
    cards = orders.AuthorizeCommand(shop["id"], w.customer_id, [Item("c", "Gift-Cards", 2000_00, 1)])
    assert reasons(platform.run(ADMIN, lambda c: orders.authorize(c, cards))) == ["CATEGORY_CAP"]
    tea = orders.AuthorizeCommand(w.merchant_id, w.customer_id, [Item("t", " TEA ", 10_00, 1)])
    assert platform.run(ADMIN, lambda c: orders.authorize(c, tea))["status"] == "authorized"
