"""From a model and a customer's features to a credit assessment: PD, score, grade, reasons.

One customer is scored from a plain dict (no DataFrame: microseconds for a scorecard); a whole
population from a DataFrame with vectorised grading. Both paths grade with the one policy in
``domain.credit``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from bnpl.credit.model_features import SPECS, reads_feed
from bnpl.credit.registry import Model
from bnpl.credit.scorecard import FACTOR, OFFSET, Scorecard
from bnpl.domain.credit import CreditAssessment, CreditPolicy, CreditReason, is_thin_file

PD_FLOOR = 1e-6  # keeps the score finite for a model that is certain


def score_of(pd_: float) -> int:
    """Points on the 600-at-50:1, 20-to-double scale, for any model's PD."""
    p = min(max(pd_, PD_FLOOR), 1 - PD_FLOOR)
    return round(OFFSET + FACTOR * math.log((1 - p) / p))


def scores_from_pds(pds: np.ndarray) -> np.ndarray:
    """``score_of`` for a vector of PDs, unrounded (for plots and distributions)."""
    p = np.clip(np.asarray(pds, dtype=float), PD_FLOOR, 1 - PD_FLOOR)
    return np.asarray(OFFSET + FACTOR * np.log((1 - p) / p))


def reason_features(model: Model, row: Mapping[str, float], n: int = 4) -> list[str]:
    """The features that cost the most points (scorecard) or pushed default risk up the most
    (LightGBM's own contributions), worst first."""
    if isinstance(model, Scorecard):
        return [p.feature for p in model.reasons(row, n)]
    return [feature for feature, _ in model.reasons(row, n)]


def reason_texts(features: list[str]) -> tuple[CreditReason, ...]:
    out = []
    for name in features:
        spec = SPECS.get(name)
        en, zh = (spec.en, spec.zh) if spec else (name.replace("_", " "), name)
        out.append(CreditReason(name, en, zh))
    return tuple(out)


def assess(
    model: Model,
    version: str,
    features: Mapping[str, float],
    policy: CreditPolicy = CreditPolicy(),
    shadow: Mapping[str, float] | None = None,
    feed_status: str | None = None,
) -> CreditAssessment:
    """``feed_status`` is the marketplace feed's (``FeedStatus``): with ``ok`` and a model that
    reads the feed, a shopper without repayment history is scored, not left to the starter policy."""
    pd_ = float(model.predict_pd_one(features))
    feed_scored = feed_status == "ok" and reads_feed(model.features)
    return CreditAssessment(
        model_version=version,
        pd=pd_,
        score=score_of(pd_),
        grade=policy.band(pd_).grade,
        thin_file=is_thin_file(features, policy, feed_scored),
        reasons=reason_texts(reason_features(model, features)),
        shadow=dict(shadow or {}),
        feed_status=feed_status,
    )


def grades(pds: np.ndarray, policy: CreditPolicy = CreditPolicy()) -> np.ndarray:
    """The grade letter of every PD in a vector, by the policy's bands."""
    cuts = np.array([b.max_pd for b in policy.bands])
    letters = np.array([b.grade.value for b in policy.bands])
    return np.asarray(letters[np.searchsorted(cuts, pds, side="right")])


def score_population(
    model: Model, frame: pd.DataFrame, policy: CreditPolicy = CreditPolicy()
) -> pd.DataFrame:
    """PD (basis points) and grade for every row of a feature frame, vectorised."""
    pds = np.clip(np.asarray(model.predict_pd(frame), dtype=float), 0.0, 1.0)
    return pd.DataFrame(
        {"pd_bps": np.rint(pds * 10_000).astype(np.int64), "grade": grades(pds, policy)}, index=frame.index
    )
