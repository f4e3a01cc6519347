"""The shoppers' behaviour draws: the offer lifts conversion most where budgets are strained,
contacts raise the chance to cure (never for fraud), and returns follow merchant quality."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bnpl.sim import behaviour as bh
from bnpl.sim.behaviour import Behaviour


@given(
    amount=st.integers(100, 5_000_000),
    income=st.integers(1_000_00, 100_000_00),
    appetite=st.floats(0.01, 0.6),
    impulse=st.floats(-3, 3),
)
def test_the_offer_never_lowers_conversion(amount: int, income: int, appetite: float, impulse: float) -> None:
    without, with_offer = bh.conversion(
        np.array([amount]), np.array([income]), np.array([appetite]), np.array([impulse]), Behaviour()
    )
    assert 0 < without[0] <= with_offer[0] < 1


def test_the_offer_lifts_a_strained_budget_more_than_an_easy_one() -> None:
    income, appetite, impulse = np.array([6_000_00] * 2), np.array([0.08] * 2), np.zeros(2)
    without, with_offer = bh.conversion(np.array([50_00, 2_000_00]), income, appetite, impulse, Behaviour())
    lift = with_offer - without
    assert without[0] > without[1]  # a small basket sells anyway
    assert lift[1] > lift[0]


def test_contacts_raise_the_chance_to_cure_and_fraud_never_cures() -> None:
    worth = np.zeros(4)
    contacts = [{}, {"sms": 1}, {"call": 1}, {"call": 1}]
    chance = bh.cure_chance(worth, contacts, np.array([False, False, False, True]), Behaviour())
    assert chance[0] < chance[1] < chance[2]
    assert chance[3] == 0.0


def test_returns_follow_quality() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    poor = bh.returns(rng, np.full(n, 0.2), np.full(n, 0.3), Behaviour()).mean()
    good = bh.returns(rng, np.full(n, 0.2), np.full(n, 0.95), Behaviour()).mean()
    assert poor > good + 0.1


def test_the_creditworthy_pay_late_less_often() -> None:
    rng = np.random.default_rng(2)
    late_good = (bh.loan_lag(rng, np.full(20_000, 2.0), Behaviour()) > 0).mean()
    late_poor = (bh.loan_lag(rng, np.full(20_000, -2.0), Behaviour()) > 0).mean()
    assert late_good < late_poor
    assert (bh.loan_lag(rng, np.zeros(1_000), Behaviour()) >= -2).all()


@pytest.mark.parametrize(
    "bad", [{"control_share": 1.5}, {"intent_per_day": 0.0}, {"promise_kept": -0.1}, {"intent_per_day": 0.9}]
)
def test_nonsense_behaviour_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Behaviour(**bad)  # type: ignore[arg-type]
