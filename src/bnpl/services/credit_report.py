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

from bnpl.credit.dataset import Dataset, DatasetError
from bnpl.credit.registry import Model, entry
from bnpl.credit.scorecard import Scorecard
from bnpl.credit.sources import from_source
from bnpl.domain.errors import InvalidInput, InvalidState
from bnpl.runtime import Platform
from bnpl.services.boot import loaded_models
from bnpl.services.model_registry import learners
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
) -> tuple[pd.DataFrame | None, str]:
    """A CSV given by the analyst; else today's customer profiles for a platform model; else a
    fresh draw of the synthetic population; else none."""
    if csv is not None:
        try:
            frame = pd.read_csv(csv)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InvalidInput(f"cannot read {csv}: {str(exc).splitlines()[0]}") from None
        if frame.empty:
            raise InvalidInput(f"{csv} has a header but no rows")
        missing = [f for f in model.features if f not in frame.columns]
        if missing:
            raise InvalidInput(f"{csv} lacks the model's columns: {', '.join(missing[:5])}")
        frame = frame[list(model.features)]
        for name in _numeric(model):
            values = pd.to_numeric(frame[name], errors="coerce")
            if (values.isna() & frame[name].notna()).any():
                raise InvalidInput(f"{csv}: column {name} must hold numbers")
            frame[name] = values
        return frame, f"from {csv}"
    if meta.get("platform_features"):
        with platform.read() as c:
            rows = c.conn.execute(
                credit_profiles.select().with_only_columns(credit_profiles.c.features)
            ).scalars()
            frame = pd.DataFrame(list(rows), columns=list(model.features))
        if len(frame):
            return frame, "the customers' credit profiles in the database now"
    if meta.get("source", {}).get("dataset") == "synthetic":
        from bnpl.credit.synthetic import generate

        return generate(RECENT_SYNTHETIC_ROWS, seed=8)[0], "a fresh draw from the synthetic generator"
    return None, ""


def _numeric(model: Model) -> list[str]:
    """The features a model reads as numbers (a scorecard says so per characteristic; LightGBM
    keeps a vocabulary for each categorical one)."""
    if isinstance(model, Scorecard):
        return [c.feature for c in model.characteristics if c.kind == "numeric"]
    return [f for f in model.features if f not in model.vocab]


def _check_writable(path: Path) -> bool:
    """Refuse an output path before the work, not after; True if this call created the file."""
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory; give a file name such as {path / 'report.html'}")
    existed = path.exists()
    try:
        path.open("a").close()
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from None
    return not existed


def write(platform: Platform, version: str, out_path: Path, recent_csv: Path | None = None) -> Path:
    created = _check_writable(out_path)
    try:
        return _write(platform, version, out_path, recent_csv)
    except BaseException:
        if created:
            out_path.unlink(missing_ok=True)
        raise


def _write(platform: Platform, version: str, out_path: Path, recent_csv: Path | None) -> Path:
    from bnpl.credit.report import write_report

    with platform.read() as c:
        meta = entry(c.conn, version)
        model = loaded_models(platform).get(c.conn, version)
        try:
            ds = from_source(meta["source"], c.conn)
        except DatasetError as exc:
            raise InvalidState(f"the training data of {version} cannot be loaded: {exc}") from None
    if ds.fingerprint != meta["fingerprint"]:
        raise InvalidState(f"the training data of {version} changed since it was trained")
    recent, recent_source = recent_population(platform, meta, model, recent_csv)
    return write_report(
        out_path,
        title=f"Validation report: {version}",
        metadata=meta,
        model=model,
        ds=ds,
        oof_pd=out_of_fold(ds, meta["kind"]),
        recent=recent,
        recent_source=recent_source,
    )
