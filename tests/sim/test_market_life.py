"""Shoppers' marketplace lives: drawn from their hidden traits with the documented strengths, noisy
enough not to be an oracle, and every drawn order a record the feed's own parser accepts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from bnpl.domain.marketplace import parse_record
from bnpl.sim import market_life as life
from bnpl.sim.population import generate

N = 20_000


@pytest.fixture(scope="module")
def drawn() -> tuple[np.ndarray, life.Habits]:
    world = generate(N, seed=5)
    return world.shoppers["worth"].to_numpy(), life.draw_habits(world, seed=5, season_days=120)


def test_the_same_seed_gives_the_same_lives() -> None:
    world = generate(200, seed=3)
    a, b = (life.draw_habits(world, seed=3, season_days=60).frame for _ in range(2))
    assert a.equals(b)


def test_consent_and_tenure_are_drawn_in_their_ranges(drawn: tuple[np.ndarray, life.Habits]) -> None:
    _, habits = drawn
    h = habits.frame
    assert 0.86 < h["consents"].mean() < 0.90
    assert not (h["engagement_scope"] & ~h["consents"]).any()
    withdraws = h["withdraws_on"] >= 0
    assert not (withdraws & ~h["consents"]).any() and 0.01 < withdraws.mean() < 0.05
    assert h["tenure_days"].between(183, 730).all()


def test_riskier_shoppers_look_riskier_on_the_feed(drawn: tuple[np.ndarray, life.Habits]) -> None:
    worth, habits = drawn
    h = habits.frame
    low, high = worth < np.quantile(worth, 0.2), worth > np.quantile(worth, 0.8)
    h = h.assign(more_addresses=h["addresses"] - 1)
    for column in ("p_cancel", "p_failed", "p_night", "p_instalment", "p_resale", "more_addresses"):
        assert h[column][low].mean() > 1.2 * h[column][high].mean(), column
    assert h["tenure_days"][low].mean() < h["tenure_days"][high].mean()
    assert h["real_name"][low].mean() < h["real_name"][high].mean()


def test_the_feed_is_a_noisy_view_not_an_oracle(drawn: tuple[np.ndarray, life.Habits]) -> None:
    worth, habits = drawn
    corr = np.corrcoef(-worth, habits.col("risk"))[0, 1]
    assert abs(corr - life.RHO) < 0.03


def test_fraud_shows_its_own_habits() -> None:
    world = generate(N, seed=9)
    h = life.draw_habits(world, seed=9, season_days=60).frame
    fraud = world.shoppers["fraud"].to_numpy()
    honest = fraud == "none"
    assert h["p_resale"][fraud == "reseller"].mean() > 5 * h["p_resale"][honest].mean()
    assert h["tenure_days"][fraud == "ring"].max() < 270 < h["tenure_days"][honest].median()


def test_drawn_orders_fall_in_their_window_and_parse() -> None:
    world = generate(300, seed=2)
    habits = life.draw_habits(world, seed=2, season_days=30)
    who = np.arange(300)
    last = date(2026, 3, 1)
    days = np.full(300, 90)
    orders = life.draw_orders(np.random.default_rng(1), habits, who, last, days)
    assert len(orders["shopper"]) > 300
    first_local = datetime.combine(last - timedelta(days=89), datetime.min.time(), tzinfo=UTC)
    # local times: Shanghai is 8 hours ahead of UTC, Urumqi 6
    assert min(orders["at"]) >= first_local - timedelta(hours=8)
    assert max(orders["at"]) < first_local + timedelta(days=90, hours=-6)
    now = datetime(2026, 3, 2, 1, tzinfo=UTC)
    for k in range(0, len(orders["shopper"]), 37):
        raw = {
            "type": "order",
            "event_id": f"t-{k}",
            "customer_id": 1,
            "occurred_at": orders["at"][k].isoformat(),
            "category": str(orders["category"][k]),
            "channel": str(orders["channel"][k]),
            "amount": int(orders["amount"][k]),
            "payment_kind": str(orders["payment_kind"][k]),
            "outcome": str(orders["outcome"][k]),
        }
        parse_record(raw, now)
    stressed = life.draw_orders(np.random.default_rng(1), habits, who, last, days, np.ones(300, bool))
    assert (stressed["outcome"] == "payment_failed").mean() > (orders["outcome"] == "payment_failed").mean()


def test_a_shock_of_some_days_shows_only_in_the_orders_of_those_days() -> None:
    world = generate(600, seed=4)
    habits = life.draw_habits(world, seed=4, season_days=30)
    last = date(2026, 3, 1)
    orders = life.draw_orders(
        np.random.default_rng(2),
        habits,
        np.arange(600),
        last,
        np.full(600, 120),
        stressed_days=np.full(600, 30),
    )
    at, failed = np.array(orders["at"]), orders["outcome"] == "payment_failed"
    # a day's margin either side of the shock's first local day, for the shoppers' time zones
    start = datetime.combine(last - timedelta(days=29), datetime.min.time(), tzinfo=UTC)
    during, before = at >= start + timedelta(days=1), at < start - timedelta(days=1)
    assert failed[during].mean() > failed[before].mean() + life.STRESS_FAILED / 2


def test_a_shock_of_k_days_marks_exactly_the_orders_of_the_last_k_local_days() -> None:
    # one shopper, orders on the last day (0) and the two before; a shock of 2 days, then none
    day = np.array([0, -1, -2])
    marked = life._stressed_orders(np.array([3]), day, None, np.array([2]))
    assert marked is not None and marked.tolist() == [True, True, False]
    unmarked = life._stressed_orders(np.array([3]), day, None, np.array([0]))
    assert unmarked is not None and not unmarked.any()
