"""The simulated world: the same for a seed, plausible in its mix, and its true default
probabilities follow the hidden traits they are drawn from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bnpl.sim.population import (
    CATEGORIES,
    RESALE,
    WorldShape,
    basket,
    default_probability,
    fraud_merchant,
    fraud_targets,
    generate,
)


def test_a_seed_gives_the_same_world_and_another_seed_another() -> None:
    a, b, c = generate(2_000, seed=7), generate(2_000, seed=7), generate(2_000, seed=8)
    pd.testing.assert_frame_equal(a.shoppers, b.shoppers)
    pd.testing.assert_frame_equal(a.merchants, b.merchants)
    pd.testing.assert_frame_equal(a.creators, b.creators)
    assert not np.allclose(a.shoppers["worth"], c.shoppers["worth"])


def test_the_mix_of_fraud_merchants_and_creators() -> None:
    shape = WorldShape()
    world = generate(10_000, seed=3, shape=shape)
    kinds = world.shoppers["fraud"].value_counts()
    assert kinds["reseller"] == round(10_000 * shape.reseller_share)
    assert kinds["ring"] == round(10_000 * shape.ring_share) and kinds["none"] > 9_700
    rings = world.shoppers[world.shoppers["ring"] >= 0]
    # ring members share an address and at most two devices; honest shoppers share nothing
    per_ring = rings.groupby("ring").agg(addresses=("address", "nunique"), devices=("device_id", "nunique"))
    assert (per_ring["addresses"] == 1).all() and (per_ring["devices"] <= 2).all()
    honest = world.shoppers[world.shoppers["ring"] < 0]
    assert honest["device_id"].is_unique and honest["address"].is_unique
    assert world.merchants["colluding"].any() and set(world.merchants["category"]) <= set(CATEGORIES)
    assert len(world.merchants) == 80 and len(world.creators) == 40
    assert (world.merchants["price"] >= 1_00).all() and world.shoppers["income"].dtype == np.int64


def test_true_default_probability_follows_the_hidden_traits() -> None:
    worth = np.array([-2.0, 0.0, 2.0])
    income = np.full(3, 6_000_00)
    honest = np.array(["none"] * 3, dtype=object)
    calm = np.zeros(3, dtype=bool)
    pd_ = default_probability(worth, income, np.full(3, 300_00), honest, calm)
    assert pd_[0] > pd_[1] > pd_[2] > 0
    bigger = default_probability(worth, income, np.full(3, 3_000_00), honest, calm)
    stressed = default_probability(worth, income, np.full(3, 300_00), honest, ~calm)
    assert (bigger > pd_).all() and (stressed > pd_).all() and (stressed < 1).all()
    fraud = default_probability(
        worth, income, np.full(3, 300_00), np.array(["reseller", "ring", "stolen"]), calm
    )
    assert fraud[0] >= 0.55 and fraud[1] >= 0.8 and fraud[2] == pytest.approx(0.97)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="fraud shares"):
        WorldShape(reseller_share=0.3, ring_share=0.3)
    with pytest.raises(ValueError, match="ring_size"):
        WorldShape(ring_size=2)
    with pytest.raises(ValueError, match="at least 10"):
        generate(5, seed=1)


def test_fraud_shops_where_and_at_the_price_it_does() -> None:
    world = generate(2_000, seed=4)
    merchants = world.merchants
    kind = np.array(["none", "reseller", "stolen", "ring"] * 250, dtype=object)  # as the season has it
    anywhere = np.arange(1_000) % len(merchants)
    picks = np.random.default_rng(1).integers(0, 10_000, (2, 1_000))
    merchant = fraud_merchant(fraud_targets(merchants), kind, anywhere, picks[0], picks[1])
    category, colluding = (
        merchants["category"].to_numpy()[merchant],
        merchants["colluding"].to_numpy()[merchant],
    )
    assert (merchant[kind == "none"] == anywhere[kind == "none"]).all()
    assert np.isin(category[np.isin(kind, ["reseller", "stolen"])], RESALE).all()
    assert colluding[kind == "ring"].all()
    price = np.full(1_000, 150_00)
    unit, qty = basket(price, kind, np.linspace(0, 1, 1_000), np.ones(1_000))
    assert set(unit[np.isin(kind, ["none", "reseller"])]) == {150_00}
    assert set(unit[np.isin(kind, ["stolen", "ring"])]) == {300_00}
    assert set(qty) == {1, 2} and (qty == 2).mean() == pytest.approx(0.15, abs=0.002)
