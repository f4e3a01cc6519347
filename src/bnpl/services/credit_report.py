"""The validation report of a registered model: out-of-fold predictions on its training table,
and a recent population to measure stability against.

The training table is loaded again from where the registry says it came from, and refused if its
fingerprint no longer matches (the report would describe different data than the model saw).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bnpl.credit.dataset import Dataset, DatasetError, from_source
from bnpl.credit.registry import Model, entry
from bnpl.domain.errors import InvalidInput, InvalidState
from bnpl.services.context import Platform
from bnpl.services.credit import learners
from bnpl.store.tables import credit_profiles

RECENT_SYNTHETIC_ROWS = 5_000


def out_of_fold(ds: Dataset, kind: str, folds: int = 5, seed: int = 42) -> np.ndarray:
    """Each row's PD from a model of the same kind that did not train on it."""
    from sklearn.model_selection import StratifiedKFold

    fit = learners()[kind]
    oof = np.zeros(len(ds.bad))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(ds.frame, ds.bad):
        oof[test] = fit(ds.subset(train)).predict_pd(ds.subset(test).frame)
    return oof


def recent_population(
    platform: Platform, meta: dict[str, Any], model: Model, csv: Path | None
) -> pd.DataFrame | None:
    """A CSV given by the analyst; else today's customer profiles for a platform model; else a
    fresh draw of the synthetic population; else none."""
    if csv is not None:
        try:
            frame = pd.read_csv(csv)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InvalidInput(f"cannot read {csv}: {str(exc).splitlines()[0]}") from None
        missing = [f for f in model.features if f not in frame.columns]
        if missing:
            raise InvalidInput(f"{csv} lacks the model's columns: {', '.join(missing[:5])}")
        return frame[list(model.features)]
    if meta.get("platform_features"):
        with platform.read() as c:
            rows = c.conn.execute(
                credit_profiles.select().with_only_columns(credit_profiles.c.features)
            ).scalars()
            frame = pd.DataFrame(list(rows), columns=list(model.features))
        if len(frame):
            return frame
    if meta.get("source", {}).get("dataset") == "synthetic":
        from bnpl.credit.synthetic import generate

        return generate(RECENT_SYNTHETIC_ROWS, seed=8)[0]
    return None


def write(platform: Platform, version: str, out_path: Path, recent_csv: Path | None = None) -> Path:
    from bnpl.credit.report import write_report

    with platform.read() as c:
        meta = entry(c.conn, version)
        model = platform.models.get(c.conn, version)
        try:
            ds = from_source(meta["source"], c.conn)
        except DatasetError as exc:
            raise InvalidState(f"the training data of {version} cannot be loaded: {exc}") from None
    if ds.fingerprint != meta["fingerprint"]:
        raise InvalidState(f"the training data of {version} changed since it was trained")
    recent = recent_population(platform, meta, model, recent_csv)
    return write_report(
        out_path,
        title=f"Validation report: {version}",
        metadata=meta,
        model=model,
        ds=ds,
        oof_pd=out_of_fold(ds, meta["kind"]),
        recent=recent,
    )
