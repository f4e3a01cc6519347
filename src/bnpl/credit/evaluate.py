"""Model validation: repeated stratified k-fold cross-validation of champion, challenger and baseline.

Every learner is fitted on the same training folds and scored on the same test folds. The baseline
is a plain optbinning ``BinningProcess`` + ``LogisticRegression``: the bar the champion must clear.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from bnpl.credit.dataset import Dataset


class Model(Protocol):
    def predict_pd(self, frame: pd.DataFrame) -> np.ndarray: ...


@dataclass(frozen=True)
class Baseline:
    pipeline: Any

    def predict_pd(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.pipeline.predict_proba(frame)[:, 1])


def fit_baseline(ds: Dataset) -> Baseline:
    from optbinning import BinningProcess
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline(
        [
            ("binning", BinningProcess(list(ds.features), categorical_variables=list(ds.categorical))),
            ("lr", LogisticRegression(max_iter=1000)),
        ]
    )
    return Baseline(pipeline.fit(ds.frame, ds.bad))


def metrics(bad: np.ndarray, pd_: np.ndarray) -> dict[str, float]:
    """AUC, KS (largest gap between the bad and good cumulative distributions) and Brier score."""
    from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(bad, pd_)
    return {
        "auc": float(roc_auc_score(bad, pd_)),
        "ks": float(np.max(tpr - fpr)),
        "brier": float(brier_score_loss(bad, pd_)),
    }


def learners() -> dict[str, Callable[[Dataset], Model]]:
    from bnpl.credit.gbm import fit_gbm
    from bnpl.credit.scorecard import fit_scorecard

    return {"champion": fit_scorecard, "challenger": fit_gbm, "baseline": fit_baseline}


def cross_validate(
    ds: Dataset,
    fits: dict[str, Callable[[Dataset], Model]] | None = None,
    n_splits: int = 5,
    n_repeats: int = 3,
    seed: int = 42,
    on_fold: Callable[[], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Mean (and standard deviation of AUC) over every test fold, per learner, with each fold's
    AUC in fold order (``auc_folds``: every learner met the same folds, so ``credit.selection``
    can pair them). On generated data that knows each row's true PD, also the "oracle": the true
    PD itself, the best any model could do, and each learner's AUC as a share of it."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    fits = fits or learners()
    folds = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    per_fold: dict[str, list[dict[str, float]]] = {name: [] for name in fits}
    if ds.true_pd is not None:
        per_fold["oracle"] = []
    for train, test in folds.split(ds.frame, ds.bad):
        train_ds, test_ds = ds.subset(train), ds.subset(test)
        for name, fit in fits.items():
            model = fit(train_ds)
            per_fold[name].append(metrics(test_ds.bad, model.predict_pd(test_ds.frame)))
        if test_ds.true_pd is not None:
            per_fold["oracle"].append(metrics(test_ds.bad, test_ds.true_pd))
        if on_fold:
            on_fold()
    out: dict[str, dict[str, Any]] = {}
    for name, rows in per_fold.items():
        summary: dict[str, Any] = {
            k: round(float(np.mean([r[k] for r in rows])), 4) for k in ("auc", "ks", "brier")
        }
        summary["auc_std"] = round(float(np.std([r["auc"] for r in rows])), 4)
        summary["auc_folds"] = [round(r["auc"], 6) for r in rows]
        out[name] = summary
    if "oracle" in out:
        for name in fits:
            out[name]["auc_vs_oracle"] = round(out[name]["auc"] / out["oracle"]["auc"], 4)
    return out
