"""The champion scorecard: the points table is the regression, one row scores like a frame, the JSON
artefact scores identically, reasons name real point losses, missing and unseen values score the
missing points, business directions hold, bad settings are refused, and tiny numeric data trains.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from bnpl.credit.dataset import Dataset, from_frame, german
from bnpl.credit.scorecard import (
    FACTOR,
    MISSING,
    OFFSET,
    Characteristic,
    Scorecard,
    fit_scorecard,
    pd_from_score,
)


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return german()


@pytest.fixture(scope="module")
def model(ds: Dataset) -> Scorecard:
    return fit_scorecard(ds)


def rows(ds: Dataset, n: int = 200) -> list[dict]:
    return ds.frame.head(n).to_dict("records")


def woe_column(c: Characteristic, column: pd.Series) -> np.ndarray:
    # German has no missing values in training, so the missing attribute's WoE is the neutral 0
    woe = np.array([a.woe for a in c.attributes] + [0.0])
    return woe[c.bins(column)]


def test_points_table_reproduces_the_regression(model: Scorecard, ds: Dataset) -> None:
    # Refit a plain LogisticRegression on the table's own WoE, for the features it kept, and
    # compare probabilities: the points table must be that regression, not an approximation.
    kept = [c for c in model.characteristics if model.params["coefficients"][c.feature] != 0]
    assert 0 < len(kept) <= len(model.characteristics)
    x = np.column_stack([woe_column(c, ds.frame[c.feature]) for c in kept])
    lr = LogisticRegression(C=model.params["c"], max_iter=2000).fit(x, ds.bad)
    np.testing.assert_allclose(
        lr.coef_[0], [model.params["coefficients"][c.feature] for c in kept], atol=1e-6
    )
    np.testing.assert_allclose(model.predict_pd(ds.frame), lr.predict_proba(x)[:, 1], atol=1e-9)
    # and on the score scale: score = OFFSET − FACTOR · logit(bad)
    np.testing.assert_allclose(model.score_frame(ds.frame), OFFSET - FACTOR * lr.decision_function(x))


def test_pd_falls_as_the_score_rises(model: Scorecard, ds: Dataset) -> None:
    scores = model.score_frame(ds.frame)
    order = np.argsort(scores)
    pd_sorted = model.predict_pd(ds.frame)[order]
    assert np.all(np.diff(pd_sorted) <= 0)
    assert pd_from_score(OFFSET) == pytest.approx(0.5)
    assert pd_from_score(600) == pytest.approx(1 / 51)


def test_the_table_separates_goods_from_bads(model: Scorecard, ds: Dataset) -> None:
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(ds.bad, model.predict_pd(ds.frame)) > 0.75  # in-sample, German: ~0.83


def test_row_score_equals_frame_score(model: Scorecard, ds: Dataset) -> None:
    some = rows(ds)
    by_row = np.array([model.score(r) for r in some])
    np.testing.assert_allclose(by_row, model.score_frame(ds.frame.head(len(some))), rtol=0, atol=1e-9)
    pd_one = np.array([model.predict_pd_one(r) for r in some])
    np.testing.assert_allclose(pd_one, model.predict_pd(ds.frame.head(len(some))), rtol=0, atol=1e-12)


def test_json_round_trip_scores_identically(model: Scorecard, ds: Dataset) -> None:
    again = Scorecard.from_json(json.loads(json.dumps(model.to_json())))
    assert again.kind == "scorecard"
    assert again.features == model.features
    assert again.params == model.params
    np.testing.assert_array_equal(again.score_frame(ds.frame), model.score_frame(ds.frame))
    assert [again.score(r) for r in rows(ds, 50)] == [model.score(r) for r in rows(ds, 50)]
    row = rows(ds, 1)[0]
    assert again.reasons(row) == model.reasons(row)


def test_reasons_are_sorted_and_name_only_points_really_lost(model: Scorecard, ds: Dataset) -> None:
    by_feature = {c.feature: c for c in model.characteristics}
    named = 0
    for row in rows(ds):
        reasons = model.reasons(row, n=20)
        assert [r.points_lost for r in reasons] == sorted((r.points_lost for r in reasons), reverse=True)
        assert len({r.feature for r in reasons}) == len(reasons)
        for r in reasons:
            c = by_feature[r.feature]
            assert c.points_of(row[r.feature]) < c.best_points
            assert r.points_lost == pytest.approx(c.best_points - c.points_of(row[r.feature]))
        # every feature that lost more than half a point is named; none at its best attribute is
        expected = {
            c.feature for c in model.characteristics if c.best_points - c.points_of(row[c.feature]) > 0.5
        }
        assert {r.feature for r in reasons} == expected
        assert model.reasons(row, n=2) == reasons[:2]
        named += len(reasons)
    assert named > 0


@pytest.mark.parametrize("missing", [None, math.nan, "never seen in training"])
def test_missing_or_unseen_values_score_the_missing_points(
    model: Scorecard, ds: Dataset, missing: object
) -> None:
    row = rows(ds, 1)[0]
    base = model.score(row)
    for feature in ("purpose", "duration_in_month"):
        c = next(c for c in model.characteristics if c.feature == feature)
        if feature == "duration_in_month" and isinstance(missing, str):
            continue  # a number column is never given a word
        changed = dict(row, **{feature: missing})
        assert c.bin_of(missing) == MISSING
        assert model.score(changed) == pytest.approx(base - c.points_of(row[feature]) + c.missing_points)
        frame = pd.DataFrame([row, changed])
        if missing is None:
            frame[feature] = frame[feature].astype(object)
            frame.loc[1, feature] = None
        np.testing.assert_allclose(model.score_frame(frame), [base, model.score(changed)])
    # training saw no missing values: missing is neutral (WoE 0), just the characteristic's share
    # of the intercept
    neutral = (OFFSET - FACTOR * model.params["intercept"]) / len(model.characteristics)
    assert all(c.missing_points == pytest.approx(neutral) for c in model.characteristics)
    # an absent key is missing too
    short = {k: v for k, v in row.items() if k != "purpose"}
    purpose = next(c for c in model.characteristics if c.feature == "purpose")
    assert model.score(short) == pytest.approx(
        base - purpose.points_of(row["purpose"]) + purpose.missing_points
    )


def test_directed_features_have_monotone_points(model: Scorecard, ds: Dataset) -> None:
    assert ds.directions
    for feature, direction in ds.directions.items():
        c = next(c for c in model.characteristics if c.feature == feature)
        assert c.kind == "numeric"
        points = np.array([a.points for a in c.attributes])
        steps = np.diff(points)
        # +1: a higher value is riskier, so points may only fall from bin to bin
        assert np.all(steps * direction <= 1e-9), (feature, points)
    duration = next(c for c in model.characteristics if c.feature == "duration_in_month")
    assert len(duration.attributes) > 1
    assert duration.points_of(6) > duration.points_of(60)


def test_points_follow_the_woe_of_each_characteristic(model: Scorecard) -> None:
    # no coefficient with the wrong sign: a better WoE never costs points
    for c in model.characteristics:
        order = np.argsort([a.woe for a in c.attributes], kind="stable")
        points = np.array([a.points for a in c.attributes])[order]
        assert np.all(np.diff(points) >= -1e-9), c.feature


@pytest.mark.parametrize(
    "kwargs",
    [
        {"c": 0},
        {"c": -1.0},
        {"c": math.nan},
        {"c": math.inf},
        {"c": "1"},
        {"min_prebin_size": 0},
        {"min_prebin_size": 0.6},
        {"min_prebin_size": -0.1},
        {"min_prebin_size": math.nan},
        {"max_n_prebins": 1},
        {"max_n_prebins": 2.5},
        {"max_n_prebins": True},
        {"prebinning_method": "kmeans"},
        {"woe_prior": -1},
        {"woe_prior": math.inf},
        {"monotonic_trend": "sideways"},
    ],
)
def test_bad_parameters_raise_value_error(kwargs: dict) -> None:
    tiny = tiny_numeric()
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        fit_scorecard(tiny, **kwargs)


def test_a_single_class_target_is_refused() -> None:
    tiny = tiny_numeric()
    one_class = Dataset("one", tiny.frame, np.zeros(len(tiny.frame), dtype=np.int64), tiny.numeric, ())
    with pytest.raises(ValueError, match="both classes"):
        fit_scorecard(one_class)


def tiny_numeric(n: int = 50, n_bad: int = 5) -> Dataset:
    """The platform's shape in miniature: all numeric, some columns constant, few bads."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "declined_orders_90d": rng.poisson(1.0, n).astype(float),
            "account_age_days": rng.integers(1, 700, n).astype(float),
            "gmv_30d": rng.gamma(2.0, 300.0, n),
            "always_zero": np.zeros(n),
            "always_one": np.ones(n),
        }
    )
    risk = frame["declined_orders_90d"] - frame["account_age_days"] / 300 + rng.normal(0, 1, n)
    bad = np.zeros(n, dtype=np.int64)
    bad[np.argsort(-risk.to_numpy())[:n_bad]] = 1
    return from_frame(
        "tiny", frame, bad, directions={"declined_orders_90d": 1, "account_age_days": -1, "always_zero": 1}
    )


def test_tiny_all_numeric_dataset_with_constant_columns_trains() -> None:
    tiny = tiny_numeric()
    model = fit_scorecard(tiny)
    assert model.features == tiny.features
    for feature in ("always_zero", "always_one"):
        c = next(c for c in model.characteristics if c.feature == feature)
        assert len(c.attributes) == 1
        assert model.params["coefficients"][feature] == 0
        assert c.missing_points == pytest.approx(c.attributes[0].points)  # no impact, missing or not
    pd_ = model.predict_pd(tiny.frame)
    assert np.all((pd_ > 0) & (pd_ < 1))
    rows_ = tiny.frame.to_dict("records")
    np.testing.assert_allclose([model.score(r) for r in rows_], model.score_frame(tiny.frame), atol=1e-9)
    for row in rows_:
        assert all(r.feature not in ("always_zero", "always_one") for r in model.reasons(row))
    again = Scorecard.from_json(json.loads(json.dumps(model.to_json())))
    np.testing.assert_array_equal(again.score_frame(tiny.frame), model.score_frame(tiny.frame))


def test_missing_values_seen_in_training_get_their_own_points() -> None:
    tiny = tiny_numeric(n=400, n_bad=80)
    frame = tiny.frame.copy()
    # the customers with no recorded age are all among the riskiest
    risky = np.flatnonzero(tiny.bad == 1)[:40]
    frame.loc[risky, "account_age_days"] = np.nan
    ds = from_frame("holes", frame, tiny.bad, directions=tiny.directions)
    model = fit_scorecard(ds, woe_prior=0.0)
    age = next(c for c in model.characteristics if c.feature == "account_age_days")
    assert age.missing_points < min(a.points for a in age.attributes)
    # a feature without holes in training still scores a hole as neutral, even with no WoE prior
    neutral = (OFFSET - FACTOR * model.params["intercept"]) / len(model.characteristics)
    gmv = next(c for c in model.characteristics if c.feature == "gmv_30d")
    assert gmv.missing_points == pytest.approx(neutral)
    rows_ = ds.frame.to_dict("records")
    np.testing.assert_allclose([model.score(r) for r in rows_], model.score_frame(ds.frame), atol=1e-9)


def test_woe_prior_shrinks_the_points_spread() -> None:
    tiny = tiny_numeric(n=400, n_bad=80)
    raw = fit_scorecard(tiny, woe_prior=0.0)
    shrunk = fit_scorecard(tiny, woe_prior=200.0)
    feature = "declined_orders_90d"
    raw_woe = [a.woe for a in next(c for c in raw.characteristics if c.feature == feature).attributes]
    shrunk_woe = [a.woe for a in next(c for c in shrunk.characteristics if c.feature == feature).attributes]
    assert len(raw_woe) == len(shrunk_woe) > 1  # the same bins: only the WoE changes
    assert np.ptp(shrunk_woe) < np.ptp(raw_woe)
    assert shrunk.params["woe_prior"] == 200.0
