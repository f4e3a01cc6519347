"""The champion: a WoE scorecard with monotonic optimal binning (optbinning) and logistic regression.

Training uses optbinning's ``BinningProcess`` and scikit-learn's ``LogisticRegression``; the result
is turned into a plain points table (characteristic → attribute → points) that scores a customer
from a dict in microseconds and a million rows with a few numpy calls, with no DataFrame on the
single-row path. Scale: 600 points at good:bad odds of 50:1, 20 points to double the odds.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bnpl.credit.dataset import Dataset

BASE_SCORE = 600
BASE_ODDS = 50  # good:bad
PDO = 20  # points to double the odds
FACTOR = PDO / math.log(2)
OFFSET = BASE_SCORE - FACTOR * math.log(BASE_ODDS)

MISSING = -1  # bin index of a missing or never-seen value: neutral WoE 0


def pd_from_score(score: float) -> float:
    """Probability of default for a score on this scale."""
    return 1.0 / (1.0 + math.exp((score - OFFSET) / FACTOR))


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
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return MISSING
        if self.kind == "numeric":
            return bisect_right(self.splits, float(value))
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

    def __init__(self, characteristics: tuple[Characteristic, ...]) -> None:
        self.characteristics = characteristics
        self.features = tuple(c.feature for c in characteristics)

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
            )
        )


def _interval(lo: float | None, hi: float | None) -> str:
    if lo is None and hi is None:
        return "any"
    if lo is None:
        return f"< {hi:g}"
    if hi is None:
        return f">= {lo:g}"
    return f"[{lo:g}, {hi:g})"


def fit_scorecard(ds: Dataset, min_prebin_size: float = 0.03, c: float = 1.0) -> Scorecard:
    """Bin every feature monotonically, fit LR on the WoE, and read off the points table."""
    from optbinning import BinningProcess
    from sklearn.linear_model import LogisticRegression

    binning = BinningProcess(
        list(ds.features), categorical_variables=list(ds.categorical), min_prebin_size=min_prebin_size
    )
    woe = binning.fit_transform(ds.frame, ds.bad, metric="woe")
    lr = LogisticRegression(C=c, max_iter=2000).fit(woe, ds.bad)
    n = len(ds.features)
    shared = (OFFSET - FACTOR * float(lr.intercept_[0])) / n  # the intercept, spread evenly

    def points(beta: float, w: float) -> float:
        # logit(bad) = b0 + Σ beta·woe and score = OFFSET − FACTOR·logit(bad)
        return shared - FACTOR * beta * w

    characteristics = []
    for feature, beta in zip(ds.features, lr.coef_[0], strict=True):
        optb = binning.get_binned_variable(feature)
        table = optb.binning_table.build()
        rows = table.iloc[: len(table) - 3]  # drop Special, Missing and Totals
        missing_woe = float(table.loc[table["Bin"].astype(str) == "Missing", "WoE"].iloc[0])
        if optb.dtype == "numerical":
            splits = tuple(float(s) for s in optb.splits)
            edges: list[float | None] = [None, *splits, None]
            labels = [_interval(edges[i], edges[i + 1]) for i in range(len(rows))]
            groups: dict[str, int] = {}
        else:
            splits = ()
            groups = {str(v): i for i, group in enumerate(optb.splits) for v in group}
            labels = [", ".join(str(v) for v in group) for group in optb.splits]
        attributes = tuple(
            Attribute(
                label,
                points(float(beta), float(r["WoE"])),
                float(r["WoE"]),
                int(r["Count"]),
                float(r["Event rate"]),
            )
            for label, (_, r) in zip(labels, rows.iterrows(), strict=True)
        )
        characteristics.append(
            Characteristic(
                feature,
                "numeric" if optb.dtype == "numerical" else "categorical",
                splits,
                groups,
                attributes,
                points(float(beta), missing_woe),
                float(table.loc["Totals", "IV"]),
            )
        )
    return Scorecard(tuple(characteristics))
