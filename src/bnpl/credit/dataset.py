"""Training tables: the vendored German credit data, any applicant CSV, or the platform's own features.

A ``Dataset`` is a feature frame, a 0/1 target (1 = bad), the split of columns into numeric and
categorical, readable labels (English, Chinese) for reason codes, the business's expected direction
per numeric feature (monotone constraints), and a fingerprint of the data for the model registry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

MIN_ROWS = 50


class DatasetError(ValueError):
    """A training table that cannot be used, with a message a person can act on."""


@dataclass(frozen=True)
class Dataset:
    name: str
    frame: pd.DataFrame
    bad: np.ndarray
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    labels: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    directions: Mapping[str, int] = field(default_factory=dict)  # +1: higher value, more risk
    fingerprint: str = ""
    true_pd: np.ndarray | None = None  # generated data only: the probability each row was drawn with

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.frame.columns)

    @property
    def bad_rate(self) -> float:
        return float(self.bad.mean())

    def label(self, feature: str) -> tuple[str, str]:
        return self.labels.get(feature, (feature.replace("_", " "), feature))

    def subset(self, rows: np.ndarray) -> Dataset:
        return Dataset(
            self.name,
            self.frame.iloc[rows].reset_index(drop=True),
            self.bad[rows],
            self.numeric,
            self.categorical,
            self.labels,
            self.directions,
            self.fingerprint,
            None if self.true_pd is None else self.true_pd[rows],
        )


def fingerprint(frame: pd.DataFrame, bad: np.ndarray) -> str:
    """A stable hash of the rows and the target, so a registry entry names the data it saw."""
    h = hashlib.sha256()
    h.update(",".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    h.update(np.asarray(bad, dtype=np.int8).tobytes())
    return h.hexdigest()[:16]


def from_frame(
    name: str,
    frame: pd.DataFrame,
    bad: np.ndarray,
    labels: Mapping[str, tuple[str, str]] | None = None,
    directions: Mapping[str, int] | None = None,
) -> Dataset:
    """Check a frame and a target and split the columns: numbers are numeric, the rest categorical."""
    bad = np.asarray(bad, dtype=np.int64)
    if len(frame) != len(bad):
        raise DatasetError(f"{len(frame)} rows but {len(bad)} targets")
    if len(frame) < MIN_ROWS:
        raise DatasetError(f"{name}: {len(frame)} rows; at least {MIN_ROWS} are needed to train")
    n_bad = int(bad.sum())
    if n_bad < 5 or len(bad) - n_bad < 5:
        raise DatasetError(f"{name}: {n_bad} bad and {len(bad) - n_bad} good rows; at least 5 of each needed")
    if frame.shape[1] == 0:
        raise DatasetError(f"{name}: no feature columns")
    numeric = tuple(c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]))
    categorical = tuple(c for c in frame.columns if c not in numeric)
    frame = frame.copy()
    for c in categorical:
        frame[c] = frame[c].astype(str)
    return Dataset(
        name,
        frame.reset_index(drop=True),
        bad,
        numeric,
        categorical,
        dict(labels or {}),
        dict(directions or {}),
        fingerprint(frame, bad),
    )


def from_csv(path: str | Path, target: str, bad_value: str) -> Dataset:
    """Any applicant table: one row per applicant, ``target`` equal to ``bad_value`` marks a bad."""
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise DatasetError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise DatasetError(f"{path} is a directory, not a CSV file") from None
    except PermissionError:
        raise DatasetError(f"{path} cannot be read (permission denied)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path} is not a readable CSV: {str(exc).splitlines()[0]}") from None
    if frame.empty:
        raise DatasetError(f"{path} has a header but no rows")
    if target not in frame.columns:
        raise DatasetError(f"{path} has no column {target!r}; columns: {', '.join(map(str, frame.columns))}")
    outcome = frame.pop(target)
    blank = int(outcome.isna().sum())
    if blank:
        raise DatasetError(f"{blank} rows have no {target}; an outcome is needed for every row")
    values = outcome.astype(str)
    if bad_value not in set(values):
        seen = ", ".join(sorted(set(values))[:10])
        raise DatasetError(f"no row has {target} = {bad_value!r}; values seen: {seen}")
    return from_frame(path.stem, frame, (values == bad_value).to_numpy())


# The German credit data (Statlog; Hofmann 1994, UCI Machine Learning Repository, CC BY 4.0),
# vendored under credit/data with its attribution.
GERMAN_LABELS: dict[str, tuple[str, str]] = {
    "status_of_existing_checking_account": ("Checking account status", "支票账户状态"),
    "duration_in_month": ("Duration in months", "借款期限（月）"),
    "credit_history": ("Credit history", "信用记录"),
    "purpose": ("Purpose", "借款用途"),
    "credit_amount": ("Credit amount", "借款金额"),
    "savings_account_and_bonds": ("Savings and bonds", "储蓄与债券"),
    "present_employment_since": ("Years in present employment", "当前工作年限"),
    "installment_rate_in_percentage_of_disposable_income": (
        "Instalment as share of disposable income",
        "月供占可支配收入比例",
    ),
    "personal_status_and_sex": ("Personal status", "婚姻状况"),
    "other_debtors_or_guarantors": ("Other debtors or guarantors", "其他债务人或担保人"),
    "present_residence_since": ("Years at present residence", "现居住年限"),
    "property": ("Property", "财产"),
    "age_in_years": ("Age", "年龄"),
    "other_installment_plans": ("Other instalment plans", "其他分期计划"),
    "housing": ("Housing", "住房"),
    "number_of_existing_credits_at_this_bank": ("Credits at this bank", "本行现有贷款数"),
    "job": ("Job", "职业"),
    "number_of_people_being_liable_to_provide_maintenance_for": ("Dependants", "供养人数"),
    "telephone": ("Telephone", "电话"),
    "foreign_worker": ("Foreign worker", "外籍劳工"),
}
GERMAN_DIRECTIONS = {
    "duration_in_month": 1,
    "credit_amount": 1,
    "installment_rate_in_percentage_of_disposable_income": 1,
    "age_in_years": -1,
}


def german() -> Dataset:
    with resources.as_file(resources.files("bnpl.credit") / "data" / "german_credit.csv") as path:
        frame = pd.read_csv(path)
    bad = (frame.pop("creditability") == "bad").to_numpy()
    return from_frame("german", frame, bad, GERMAN_LABELS, GERMAN_DIRECTIONS)
