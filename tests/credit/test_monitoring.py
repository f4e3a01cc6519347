"""Monitoring numbers: PSI by hand and by property, KS against sklearn, calibration bookkeeping."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_curve

from bnpl.credit.monitoring import (
    SHARE_FLOOR,
    calibration_table,
    ks_curve,
    psi,
    psi_reading,
    psi_table,
    quantile_edges,
)

samples = st.lists(st.integers(-1000, 1000), min_size=1, max_size=200).map(lambda v: np.array(v, dtype=float))
floats = st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=200).map(
    np.array
)


def test_identical_samples_are_stable() -> None:
    x = np.random.default_rng(0).normal(size=5000)
    assert psi(x, x) == 0.0
    assert psi(x, x.copy()[::-1]) == 0.0


def test_psi_of_a_tiny_shift_matches_a_hand_computation() -> None:
    expected = np.arange(1, 11, dtype=float)  # median edge 6 -> bins [.., 6) and [6, ..)
    actual = np.array([1, 2, 3, 6, 7, 8, 9, 10, 11, 12], dtype=float)  # 3 below, 7 above
    by_hand = (0.3 - 0.5) * math.log(0.3 / 0.5) + (0.7 - 0.5) * math.log(0.7 / 0.5)
    assert psi(expected, actual, bins=2) == pytest.approx(by_hand, abs=1e-12)
    assert by_hand == pytest.approx(0.16946, abs=1e-5)
    table = psi_table(expected, actual, bins=2)
    assert [(r.lower, r.upper) for r in table] == [(-math.inf, 6.0), (6.0, math.inf)]
    assert [(r.expected_count, r.actual_count) for r in table] == [(5, 3), (5, 7)]
    assert [r.actual_share for r in table] == pytest.approx([0.3, 0.7])


def test_empty_bins_are_floored_so_psi_stays_finite() -> None:
    expected = np.arange(100, dtype=float)
    actual = np.full(50, 1000.0)  # everything in the last bin
    table = psi_table(expected, actual)
    assert [r.actual_count for r in table] == [0] * 9 + [50]
    value = psi(expected, actual)
    assert math.isfinite(value)
    floor_term = (SHARE_FLOOR - 0.1) * math.log(SHARE_FLOOR / 0.1)
    assert value == pytest.approx(9 * floor_term + (1 - 0.1) * math.log(1 / 0.1))


def test_readings_follow_the_usual_thresholds() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=20_000)
    assert psi_reading(psi(base, rng.normal(size=20_000))) == "stable"
    assert psi_reading(psi(base, rng.normal(0.4, 1, size=20_000))) == "watch"
    assert psi_reading(psi(base, rng.normal(1.0, 1, size=20_000))) == "shift"
    assert [psi_reading(v) for v in (0.0, 0.099, 0.1, 0.25, 0.2501)] == [
        "stable",
        "stable",
        "watch",
        "watch",
        "shift",
    ]


def test_ties_give_fewer_bins_not_empty_ones() -> None:
    x = np.array([1.0] * 50 + [2.0] * 30 + [3.0] * 20)
    assert len(quantile_edges(x, 10)) < 9
    table = psi_table(x, x)
    assert all(r.expected_count > 0 for r in table)
    assert sum(r.expected_count for r in table) == 100


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        psi(np.array([]), np.array([1.0]))
    with pytest.raises(ValueError, match="missing"):
        psi(np.array([1.0, np.nan]), np.array([1.0]))
    with pytest.raises(ValueError, match="bins"):
        psi(np.array([1.0, 2.0]), np.array([1.0]), bins=0)


@settings(max_examples=150, deadline=None)
@given(samples)
def test_psi_of_a_sample_against_itself_is_zero(x: np.ndarray) -> None:
    assert psi(x, x) == 0.0
    assert psi(x, np.tile(x, 3)) == 0.0  # same shares, three times the rows
    assert psi(x, np.random.default_rng(0).permutation(x)) == 0.0


@settings(max_examples=150, deadline=None)
@given(floats, floats, st.integers(1, 20))
def test_psi_is_non_negative_and_the_table_adds_up(x: np.ndarray, y: np.ndarray, bins: int) -> None:
    table = psi_table(x, y, bins)
    value = psi(x, y, bins)
    assert value >= 0.0
    assert all(r.contribution >= 0.0 for r in table)
    assert sum(r.contribution for r in table) == pytest.approx(value, rel=1e-12, abs=1e-15)
    assert sum(r.expected_count for r in table) == len(x)
    assert sum(r.actual_count for r in table) == len(y)
    assert sum(r.expected_share for r in table) == pytest.approx(1.0)
    assert sum(r.actual_share for r in table) == pytest.approx(1.0)
    assert len(table) <= bins
    assert all(r.expected_count > 0 for r in table)  # no expected bin is ever empty


@settings(max_examples=100, deadline=None)
@given(floats, floats)
def test_psi_is_symmetric_in_the_shares(x: np.ndarray, y: np.ndarray) -> None:
    """Each term (a − e)·ln(a / e) is unchanged when the two shares swap, so with the bins held
    fixed the index is symmetric; swapping the samples also swaps which one sets the bins."""
    table = psi_table(x, y)
    swapped = [
        (max(r.expected_share, SHARE_FLOOR) - max(r.actual_share, SHARE_FLOOR))
        * math.log(max(r.expected_share, SHARE_FLOOR) / max(r.actual_share, SHARE_FLOOR))
        for r in table
    ]
    assert swapped == pytest.approx([r.contribution for r in table], rel=1e-12, abs=1e-15)
    assert psi(x, y) == psi(np.random.default_rng(1).permutation(x), np.random.default_rng(2).permutation(y))


def _outcomes(n: int = 500, seed: int = 3, levels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pd_ = rng.uniform(0.01, 0.9, size=n)
    if levels:
        pd_ = np.round(pd_ * levels) / levels  # heavy ties, like scorecard PDs
    bad = (rng.uniform(size=n) < pd_).astype(int)
    return bad, pd_


@pytest.mark.parametrize("levels", [None, 7])
def test_ks_equals_max_tpr_minus_fpr(levels: int | None) -> None:
    bad, pd_ = _outcomes(levels=levels)
    fpr, tpr, _ = roc_curve(bad, pd_)
    curve = ks_curve(bad, pd_)
    assert curve.ks == pytest.approx(float(np.max(tpr - fpr)), abs=1e-12)
    thresholds, cum_bad, cum_good, ks, ks_at = curve
    assert np.all(np.diff(thresholds) < 0)
    assert np.all(np.diff(cum_bad) >= 0) and np.all(np.diff(cum_good) >= 0)
    assert cum_bad[-1] == pytest.approx(1.0) and cum_good[-1] == pytest.approx(1.0)
    at = pd_ >= ks_at
    assert bad[at].sum() / bad.sum() - (1 - bad[at]).sum() / (1 - bad).sum() == pytest.approx(ks)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 20)), min_size=2, max_size=100))
def test_ks_matches_sklearn_for_any_sample(rows: list[tuple[int, int]]) -> None:
    bad = np.array([b for b, _ in rows])
    pd_ = np.array([p / 20 for _, p in rows])
    if bad.min() == bad.max():
        with pytest.raises(ValueError):
            ks_curve(bad, pd_)
        return
    fpr, tpr, _ = roc_curve(bad, pd_)
    assert ks_curve(bad, pd_).ks == pytest.approx(float(np.max(tpr - fpr)), abs=1e-12)


@pytest.mark.parametrize("levels", [None, 7])
def test_calibration_counts_sum_to_n(levels: int | None) -> None:
    bad, pd_ = _outcomes(levels=levels)
    rows = calibration_table(bad, pd_)
    assert sum(r.count for r in rows) == len(bad)
    assert sum(r.bads for r in rows) == bad.sum()
    assert len(rows) <= 10
    for r in rows:
        inside = (pd_ >= r.lower) & (pd_ < r.upper)
        assert inside.sum() == r.count
        assert r.mean_pd == pytest.approx(pd_[inside].mean())
        assert r.bad_rate == pytest.approx(bad[inside].mean())
    assert [r.mean_pd for r in rows] == sorted(r.mean_pd for r in rows)
    if levels is None:
        assert [r.count for r in rows] == [50] * 10


def test_calibration_and_ks_refuse_mismatched_input() -> None:
    with pytest.raises(ValueError, match="outcomes"):
        calibration_table(np.array([0, 1]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="0/1"):
        ks_curve(np.array([0, 2]), np.array([0.1, 0.2]))
