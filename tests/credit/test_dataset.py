"""Applicant tables from CSV: what an analyst's file may hold, and the clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bnpl.credit.dataset import DatasetError, from_csv, german
from bnpl.credit.gbm import fit_gbm
from bnpl.credit.scorecard import fit_scorecard


def table(path: Path, rows: int = 300, blank_every: int = 7) -> Path:
    rng = np.random.default_rng(4)
    x = rng.normal(size=rows)
    city = rng.choice(["north", "south", "east"], size=rows).astype(object)
    city[::blank_every] = None  # blanks in a text column, as real exports have
    income = np.round(x + rng.normal(scale=0.7, size=rows), 3).astype(object)
    income[3::11] = None
    pd.DataFrame(
        {
            "income": income,
            "city": city,
            "t": np.where(rng.random(rows) < 1 / (1 + np.exp(1.5 + 1.2 * x)), "Y", "N"),
        }
    ).to_csv(path, index=False)
    return path


def test_blanks_are_missing_values_for_both_models(tmp_path: Path) -> None:
    ds = from_csv(table(tmp_path / "m.csv"), "t", "Y")
    assert ds.categorical == ("city",) and ds.frame["city"].isna().sum() > 0
    for model in (fit_scorecard(ds), fit_gbm(ds)):
        pds = model.predict_pd(ds.frame)
        assert np.isfinite(pds).all() and ((pds > 0) & (pds < 1)).all()
        one = model.predict_pd_one({"income": None, "city": None})
        assert 0 < one < 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("income,t\n", "header but no rows"),
        ("", "not a readable CSV"),
        ("income,t\n1,Y\n2,\n3,N\n", "1 rows have no t"),
        ("income,t\n1,N\n2,N\n", "no row has t = 'Y'; values seen: N"),
        ("income,x\n1,Y\n", "no column 't'"),
    ],
)
def test_bad_tables_are_refused_clearly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message):
        from_csv(path, "t", "Y")


def test_a_directory_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is a directory"):
        from_csv(tmp_path, "t", "Y")
    with pytest.raises(DatasetError, match="no such file"):
        from_csv(tmp_path / "none.csv", "t", "Y")


def test_the_vendored_german_data() -> None:
    ds = german()
    assert len(ds.bad) == 1000 and int(ds.bad.sum()) == 300 and len(ds.features) == 20
    assert len(ds.categorical) == 13 and ds.fingerprint == german().fingerprint
