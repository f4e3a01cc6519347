"""Where a training table comes from, by the name the model registry records: a bundled dataset,
a CSV file, the synthetic generator or the platform's own history."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bnpl.credit.dataset import Dataset, DatasetError, from_csv, german
from bnpl.credit.platform_data import platform_dataset
from bnpl.credit.synthetic import synthetic

DATASETS = {"german": german, "synthetic": synthetic}


def load(name: str) -> Dataset:
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}, platform")
    return DATASETS[name]()


def from_source(source: Mapping[str, Any], conn: Any = None) -> Dataset:
    """A table named as the registry records it: ``{"dataset": name}``, ``{"csv", "target", "bad"}``,
    or ``{"dataset": "platform", "as_of", "bad_dpd"}`` (the platform's own history, read on ``conn``)."""
    if "csv" in source:
        return from_csv(source["csv"], source["target"], source["bad"])
    if source.get("dataset") == "platform":
        if conn is None:
            raise DatasetError("the platform dataset needs a database connection")
        return platform_dataset(conn, datetime.fromisoformat(source["as_of"]), int(source["bad_dpd"]))
    if source.get("dataset") == "synthetic" and "rows" in source:
        return synthetic(rows=int(source["rows"]))
    return load(source["dataset"])
