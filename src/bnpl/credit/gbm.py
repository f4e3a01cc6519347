"""The challenger: LightGBM with monotone constraints, Platt-calibrated to a probability of default.

Categorical values are coded through a vocabulary kept in the artefact (a value never seen in
training is missing). Reasons come from LightGBM's own ``pred_contrib``: the features that pushed
this customer's log-odds of default up the most. The artefact is LightGBM's text model plus JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bnpl.credit.dataset import Dataset

PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 6,
    "min_data_in_leaf": 25,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 5.0,
    "cat_smooth": 20,
    "min_data_per_group": 25,
    "monotone_constraints_method": "advanced",
    "num_threads": 1,
    "deterministic": True,
    "seed": 7,
    "verbose": -1,
}
ROUNDS = 250


class GbmModel:
    kind = "lightgbm"

    def __init__(
        self,
        model_text: str,
        features: tuple[str, ...],
        vocab: Mapping[str, list[str]],
        platt: tuple[float, float],
    ) -> None:
        import lightgbm

        self.model_text = model_text
        self.booster = lightgbm.Booster(model_str=model_text)
        self.features = features
        self.vocab = dict(vocab)
        self._codes = _codes(self.vocab)
        self.platt = platt

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        return _encode(frame, self.features, self._codes)

    def encode_row(self, row: Mapping[str, Any]) -> np.ndarray:
        values = []
        for f in self.features:
            v = row.get(f)
            if f in self._codes:
                values.append(self._codes[f].get(str(v), math.nan))
            else:
                values.append(math.nan if v is None else float(v))
        return np.array([values])

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        a, b = self.platt
        return np.asarray(1.0 / (1.0 + np.exp(-(a * raw + b))))

    def predict_pd(self, frame: pd.DataFrame) -> np.ndarray:
        return self._calibrate(np.asarray(self.booster.predict(self.encode(frame), raw_score=True)))

    def predict_pd_one(self, row: Mapping[str, Any]) -> float:
        # one thread for one row: waking LightGBM's thread pool costs ~6 ms, the prediction 20 µs
        raw = self.booster.predict(self.encode_row(row), raw_score=True, num_threads=1)
        return float(self._calibrate(np.asarray(raw))[0])

    def reasons(self, row: Mapping[str, Any], n: int = 4) -> list[tuple[str, float]]:
        """Features whose contribution raised the log-odds of default the most, largest first."""
        x = self.encode_row(row)
        contrib = np.asarray(self.booster.predict(x, pred_contrib=True, num_threads=1))[0][:-1]
        order = np.argsort(-contrib)
        return [(self.features[i], float(contrib[i])) for i in order[:n] if contrib[i] > 0]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "features": list(self.features),
            "vocab": self.vocab,
            "platt": list(self.platt),
            "model_text": self.model_text,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GbmModel:
        a, b = data["platt"]
        return cls(data["model_text"], tuple(data["features"]), data["vocab"], (float(a), float(b)))


def _codes(vocab: Mapping[str, list[str]]) -> dict[str, dict[str, float]]:
    return {f: {v: float(i) for i, v in enumerate(values)} for f, values in vocab.items()}


def _encode(
    frame: pd.DataFrame, features: tuple[str, ...], codes: Mapping[str, dict[str, float]]
) -> np.ndarray:
    """Numbers as floats, categories as their vocabulary code (unseen: NaN, treated as missing)."""
    cols = []
    for f in features:
        if f in codes:
            cols.append(frame[f].astype(str).map(codes[f]).to_numpy(dtype=float))
        else:
            cols.append(frame[f].to_numpy(dtype=float))
    return np.column_stack(cols)


def _train(x: np.ndarray, y: np.ndarray, ds: Dataset, categorical: list[int]) -> Any:
    import lightgbm

    params = dict(PARAMS, monotone_constraints=[int(ds.directions.get(f, 0)) for f in ds.features])
    data = lightgbm.Dataset(
        x, label=y, feature_name=list(ds.features), categorical_feature=categorical, free_raw_data=False
    )
    return lightgbm.train(params, data, num_boost_round=ROUNDS)


def fit_gbm(ds: Dataset, calibration_folds: int = 3) -> GbmModel:
    """Train on everything; learn the Platt map on out-of-fold raw scores so it is not flattered."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    # a blank category is missing, not a value: it gets no code and LightGBM treats it as missing
    vocab = {f: sorted(ds.frame[f].dropna().astype(str).unique()) for f in ds.categorical}
    x = _encode(ds.frame, ds.features, _codes(vocab))
    categorical = [i for i, f in enumerate(ds.features) if f in vocab]
    oof = np.zeros(len(ds.bad))
    folds = StratifiedKFold(n_splits=calibration_folds, shuffle=True, random_state=11)
    for train, test in folds.split(x, ds.bad):
        oof[test] = _train(x[train], ds.bad[train], ds, categorical).predict(x[test], raw_score=True)
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(oof.reshape(-1, 1), ds.bad)
    booster = _train(x, ds.bad, ds, categorical)
    return GbmModel(
        booster.model_to_string(), ds.features, vocab, (float(platt.coef_[0][0]), float(platt.intercept_[0]))
    )
