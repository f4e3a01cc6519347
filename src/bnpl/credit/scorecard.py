"""The champion: a WoE scorecard with monotonic optimal binning (optbinning) and logistic regression.

The full account is in docs/credit.md ("The scorecard")."""

from __future__ import annotations

import math
import warnings
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from bnpl.credit.dataset import Dataset

BASE_SCORE = 600
BASE_ODDS = 50  # good:bad
PDO = 20  # points to double the odds
FACTOR = PDO / math.log(2)
OFFSET = BASE_SCORE - FACTOR * math.log(BASE_ODDS)

MISSING = -1  # bin index of a missing or never-seen value

PREBINNING_METHODS = ("quantile", "cart", "uniform", "mdlp")
# optbinning's trends of the bad rate, for a numeric feature with no business direction. "auto" may
# pick a peak or valley and solve it exactly, which can take minutes on a noisy feature with many
# pre-bins; "auto_heuristic" finds the same shapes with a heuristic in a fraction of a second.
TRENDS = (
    "auto_heuristic",
    "auto",
    "auto_asc_desc",
    "ascending",
    "descending",
    "concave",
    "convex",
    "peak",
    "valley",
    "peak_heuristic",
    "valley_heuristic",
)


def pd_from_score(score: float) -> float:
    """Probability of default for a score on this scale."""
    return 1.0 / (1.0 + math.exp((score - OFFSET) / FACTOR))


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


@dataclass(frozen=True)
class Attribute:
    """One bin of a characteristic, with what training saw in it."""

    label: str
    points: float
    woe: float
    count: int
    bad_rate: float


@dataclass(frozen=True)
class Characteristic:
    feature: str
    kind: str  # numeric | categorical
    splits: tuple[float, ...]  # numeric: bin i holds splits[i-1] <= x < splits[i]
    groups: Mapping[str, int]  # categorical: value -> bin
    attributes: tuple[Attribute, ...]
    missing_points: float
    iv: float

    def bin_of(self, value: Any) -> int:
        if _is_missing(value):
            return MISSING
        if self.kind == "numeric":
            x = float(value)
            return MISSING if math.isnan(x) else bisect_right(self.splits, x)
        return self.groups.get(str(value), MISSING)

    def points_of(self, value: Any) -> float:
        i = self.bin_of(value)
        return self.missing_points if i == MISSING else self.attributes[i].points

    def bins(self, column: pd.Series) -> np.ndarray:
        """Vectorised ``bin_of`` for a whole column."""
        if self.kind == "numeric":
            values = column.to_numpy(dtype=float)
            out = np.searchsorted(np.asarray(self.splits, dtype=float), values, side="right")
            out[np.isnan(values)] = MISSING
            return np.asarray(out)
        mapped = column.astype(str).map(self.groups)
        mapped[column.isna().to_numpy()] = np.nan
        return np.asarray(mapped.fillna(MISSING).to_numpy(dtype=np.int64))

    @property
    def best_points(self) -> float:
        return max(a.points for a in self.attributes)


@dataclass(frozen=True)
class PointsLost:
    feature: str
    attribute: str
    points_lost: float


class Scorecard:
    kind = "scorecard"

    def __init__(
        self, characteristics: tuple[Characteristic, ...], params: Mapping[str, Any] | None = None
    ) -> None:
        self.characteristics = characteristics
        self.features = tuple(c.feature for c in characteristics)
        self.params: dict[str, Any] = dict(params or {})  # how it was fitted: settings and outcomes

    def score(self, row: Mapping[str, Any]) -> float:
        return sum(c.points_of(row.get(c.feature)) for c in self.characteristics)

    def predict_pd_one(self, row: Mapping[str, Any]) -> float:
        return pd_from_score(self.score(row))

    def score_frame(self, frame: pd.DataFrame) -> np.ndarray:
        total = np.zeros(len(frame))
        for c in self.characteristics:
            table = np.array([a.points for a in c.attributes] + [c.missing_points])
            total += table[c.bins(frame[c.feature])]  # MISSING (-1) picks the last entry
        return total

    def predict_pd(self, frame: pd.DataFrame) -> np.ndarray:
        scores = self.score_frame(frame)
        return np.asarray(1.0 / (1.0 + np.exp((scores - OFFSET) / FACTOR)))

    def reasons(self, row: Mapping[str, Any], n: int = 4) -> list[PointsLost]:
        """The attributes that cost the most points against the best attribute of each characteristic."""
        lost = []
        for c in self.characteristics:
            i = c.bin_of(row.get(c.feature))
            points = c.missing_points if i == MISSING else c.attributes[i].points
            label = "missing" if i == MISSING else c.attributes[i].label
            if c.best_points - points > 0.5:
                lost.append(PointsLost(c.feature, label, c.best_points - points))
        lost.sort(key=lambda p: -p.points_lost)
        return lost[:n]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "scale": {"base_score": BASE_SCORE, "base_odds": BASE_ODDS, "pdo": PDO},
            "params": dict(self.params),
            "characteristics": [
                {
                    "feature": c.feature,
                    "kind": c.kind,
                    "splits": list(c.splits),
                    "groups": dict(c.groups),
                    "missing_points": c.missing_points,
                    "iv": c.iv,
                    "attributes": [
                        {
                            "label": a.label,
                            "points": a.points,
                            "woe": a.woe,
                            "count": a.count,
                            "bad_rate": a.bad_rate,
                        }
                        for a in c.attributes
                    ],
                }
                for c in self.characteristics
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scorecard:
        return cls(
            tuple(
                Characteristic(
                    c["feature"],
                    c["kind"],
                    tuple(c["splits"]),
                    dict(c["groups"]),
                    tuple(Attribute(**a) for a in c["attributes"]),
                    c["missing_points"],
                    c["iv"],
                )
                for c in data["characteristics"]
            ),
            data.get("params"),
        )


def _edge(x: float) -> str:
    """A bin edge as a person reads it: whole numbers from 100 up, three significant digits below."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _interval(lo: float | None, hi: float | None) -> str:
    if lo is None and hi is None:
        return "any"
    if lo is None:
        return f"< {_edge(hi)}"  # type: ignore[arg-type]
    if hi is None:
        return f">= {_edge(lo)}"
    return f"[{_edge(lo)}, {_edge(hi)})"


def _is_real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))


def _check_params(
    min_prebin_size: Any,
    c: Any,
    max_n_prebins: Any,
    prebinning_method: Any,
    woe_prior: Any,
    monotonic_trend: Any,
) -> None:
    """scikit-learn style: reject a bad setting up front, naming it and the allowed range."""
    if not _is_real(c) or c <= 0:
        raise ValueError(f"c (inverse L2 strength) must be a finite number > 0; got {c!r}")
    if not _is_real(min_prebin_size) or not 0 < min_prebin_size <= 0.5:
        raise ValueError(f"min_prebin_size must be a number in (0, 0.5]; got {min_prebin_size!r}")
    if not isinstance(max_n_prebins, Integral) or isinstance(max_n_prebins, bool) or max_n_prebins < 2:
        raise ValueError(f"max_n_prebins must be an integer >= 2; got {max_n_prebins!r}")
    if prebinning_method not in PREBINNING_METHODS:
        raise ValueError(
            f"prebinning_method must be one of {', '.join(PREBINNING_METHODS)}; got {prebinning_method!r}"
        )
    if not _is_real(woe_prior) or woe_prior < 0:
        raise ValueError(f"woe_prior (pseudo-rows per bin) must be a finite number >= 0; got {woe_prior!r}")
    if monotonic_trend not in TRENDS:
        raise ValueError(f"monotonic_trend must be one of {', '.join(TRENDS)}; got {monotonic_trend!r}")


def _check_dataset(ds: Dataset) -> np.ndarray:
    bad = np.asarray(ds.bad)
    if len(bad) != len(ds.frame):
        raise ValueError(f"{len(ds.frame)} rows but {len(bad)} targets")
    if len(ds.features) == 0:
        raise ValueError("the dataset has no feature columns")
    if not np.isin(bad, (0, 1)).all():
        raise ValueError("the target must be 0 (good) or 1 (bad)")
    n_bad = int(bad.sum())
    if n_bad == 0 or n_bad == len(bad):
        raise ValueError(f"{n_bad} bad and {len(bad) - n_bad} good rows; both classes are needed")
    return bad.astype(np.int64)


def _woe(
    slots: np.ndarray, bad: np.ndarray, n_slots: int, prior: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, bad rows and WoE (log of the slot's good:bad odds over the overall odds) per slot.

    ``prior`` pseudo-rows at the overall bad rate are added to every slot, so an empty slot (say,
    missing values never seen in training) gets WoE 0 and a small one is pulled towards 0.
    """
    count = np.bincount(slots, minlength=n_slots).astype(float)
    bads = np.bincount(slots, weights=bad.astype(float), minlength=n_slots)
    rate = float(bad.mean())
    b = bads + prior * rate
    g = count - bads + prior * (1 - rate)
    pure = (b == 0) | (g == 0)  # only possible with prior 0: half a row each keeps the WoE finite
    b, g = np.where(pure, b + 0.5, b), np.where(pure, g + 0.5, g)
    woe = np.log(g / b) - math.log((1 - rate) / rate)
    woe[count == 0] = 0.0
    return count, bads, woe


def _fit_signed_lr(x: np.ndarray, bad: np.ndarray, c: float) -> tuple[np.ndarray, float, list[int]]:
    """LR on the WoE columns with every coefficient <= 0 (WoE is good-positive, the target is bad).

    Constant columns are left out; while some coefficient is positive, the most positive column is
    dropped and the model refitted. Returns the coefficients (0 where left out), intercept, dropped.
    """
    from sklearn.linear_model import LogisticRegression

    coef = np.zeros(x.shape[1])
    active = [j for j in range(x.shape[1]) if np.ptp(x[:, j]) > 1e-9]
    dropped: list[int] = []
    while active:
        lr = LogisticRegression(C=c, max_iter=2000).fit(x[:, active], bad)
        beta = lr.coef_[0]
        worst = int(np.argmax(beta))
        if beta[worst] <= 0:
            coef[active] = beta
            return coef, float(lr.intercept_[0]), dropped
        dropped.append(active.pop(worst))
    rate = float(bad.mean())
    return coef, math.log(rate / (1 - rate)), dropped


def fit_scorecard(
    ds: Dataset,
    min_prebin_size: float = 0.02,
    c: float = 1.0,
    *,
    max_n_prebins: int = 40,
    prebinning_method: str = "quantile",
    woe_prior: float = 10.0,
    monotonic_trend: str = "auto_heuristic",
) -> Scorecard:
    """Bin every feature monotonically, fit LR on the shrunk WoE, and read off the points table.

    Parameters: ``min_prebin_size`` (least share of rows in a pre-bin and in a final bin, in
    (0, 0.5]); ``c`` (inverse L2 strength of the regression, > 0); ``max_n_prebins`` (pre-bins
    of a numeric feature, >= 2); ``prebinning_method`` for numeric features (one of
    ``PREBINNING_METHODS``); ``woe_prior`` (pseudo-rows at the overall bad rate added to every
    bin before its WoE is taken, >= 0; 0 is the raw WoE); ``monotonic_trend`` (optbinning's trend of
    the bad rate for a numeric feature without a direction in ``ds.directions``, one of ``TRENDS``).
    Bad values raise ``ValueError``.
    """
    _check_params(min_prebin_size, c, max_n_prebins, prebinning_method, woe_prior, monotonic_trend)
    bad = _check_dataset(ds)

    from optbinning import BinningProcess
    from sklearn.isotonic import isotonic_regression

    features = list(ds.features)
    numeric = [f for f in features if f not in ds.categorical]
    directions = {f: int(np.sign(ds.directions.get(f, 0))) for f in numeric}
    trend = {1: "ascending", -1: "descending", 0: monotonic_trend}  # optbinning's trend is the bad rate's
    binning = BinningProcess(
        features,
        categorical_variables=list(ds.categorical),
        max_n_prebins=int(max_n_prebins),
        min_prebin_size=float(min_prebin_size),
        binning_fit_params={
            f: {"prebinning_method": prebinning_method, "monotonic_trend": trend[directions[f]]}
            for f in numeric
        },
    )
    with warnings.catch_warnings():
        # quantile pre-binning of a constant feature, or of one with few distinct values: expected
        warnings.filterwarnings("ignore", message="Bins whose width are too small", category=UserWarning)
        warnings.filterwarnings("ignore", message="Feature .* is constant", category=UserWarning)
        binning.fit(ds.frame, bad)

    # The bins, as the points table will read them; every training row is placed by that same code.
    shapes: list[tuple[str, tuple[float, ...], dict[str, int], list[str]]] = []
    for feature in features:
        optb = binning.get_binned_variable(feature)
        if optb.dtype == "categorical":
            groups = {str(v): i for i, group in enumerate(optb.splits) for v in group}
            labels = [", ".join(str(v) for v in group) for group in optb.splits]
            if not groups:  # optbinning found no groups: one bin holding every value seen
                seen = sorted({str(v) for v in ds.frame[feature].dropna()})
                groups, labels = {v: 0 for v in seen}, [", ".join(seen) or "any"]
            shapes.append(("categorical", (), groups, labels))
        else:
            splits = tuple(float(s) for s in optb.splits)
            edges: list[float | None] = [None, *splits, None]
            shapes.append(
                ("numeric", splits, {}, [_interval(edges[i], edges[i + 1]) for i in range(len(splits) + 1)])
            )

    counts, slot_bads, woes, columns = [], [], [], []
    for feature, (kind, splits, groups, labels) in zip(features, shapes, strict=True):
        shell = Characteristic(feature, kind, splits, groups, (), 0.0, 0.0)
        n_bins = len(labels)
        slots = shell.bins(ds.frame[feature])
        slots = np.where(slots == MISSING, n_bins, slots)  # the last slot is "missing"
        count, bads, woe = _woe(slots, bad, n_bins + 1, float(woe_prior))
        direction = directions.get(feature, 0)
        if direction and n_bins > 1:  # more risk with the value: WoE (good-positive) must fall
            woe[:n_bins] = isotonic_regression(
                woe[:n_bins], sample_weight=count[:n_bins] + woe_prior + 1e-9, increasing=direction < 0
            )
        counts.append(count)
        slot_bads.append(bads)
        woes.append(woe)
        columns.append(woe[slots])

    coef, intercept, dropped = _fit_signed_lr(np.column_stack(columns), bad, float(c))
    shared = (OFFSET - FACTOR * intercept) / len(features)  # the intercept, spread evenly
    n_good, n_bad = float((bad == 0).sum()), float(bad.sum())

    characteristics = []
    for j, (feature, (kind, splits, groups, labels)) in enumerate(zip(features, shapes, strict=True)):
        count, slot_bad, woe = counts[j], slot_bads[j], woes[j]
        points = shared - FACTOR * coef[j] * woe  # score = OFFSET − FACTOR·(b0 + Σ beta·woe)
        iv = float(np.sum(((count - slot_bad) / n_good - slot_bad / n_bad) * woe))
        attributes = tuple(
            Attribute(
                labels[i],
                float(points[i]),
                float(woe[i]),
                int(count[i]),
                float(slot_bad[i] / count[i]) if count[i] else 0.0,
            )
            for i in range(len(labels))
        )
        characteristics.append(
            Characteristic(feature, kind, splits, groups, attributes, float(points[-1]), iv)
        )
    params = {
        "c": float(c),
        "min_prebin_size": float(min_prebin_size),
        "max_n_prebins": int(max_n_prebins),
        "prebinning_method": prebinning_method,
        "woe_prior": float(woe_prior),
        "monotonic_trend": monotonic_trend,
        "intercept": intercept,
        "coefficients": {f: float(b) for f, b in zip(features, coef, strict=True)},
        "dropped_wrong_sign": [features[j] for j in dropped],
        "n_rows": len(bad),
        "bad_rate": float(bad.mean()),
    }
    return Scorecard(tuple(characteristics), params)
