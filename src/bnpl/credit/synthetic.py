"""A generated training table over the platform's own credit features, with the true PD known.

Until the platform has a history of its own (or the marketplace simulator has made one), a model
that scores checkouts needs training rows with the platform's features. This draws them from a
small generative story — hidden creditworthiness, impulsiveness and a financial-stress shock drive
shopping, repayment and default — so a champion can be trained, promoted and benchmarked on a fresh
install. Every row carries its true probability of default, so a model's AUC can be set against
the best achievable (oracle) AUC. Deterministic for a seed. Generated data only: no real person.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from bnpl.credit.dataset import Dataset, from_frame
from bnpl.credit.features import FEATURE_NAMES, FEATURES

DEFAULT_ROWS = 20_000


def generate(rows: int = DEFAULT_ROWS, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Features (columns ``FEATURE_NAMES``), the drawn default flag and the true PD of each row."""
    if rows < 1:
        raise ValueError("rows must be positive")
    rng = np.random.default_rng(seed)
    worth = rng.normal(size=rows)  # hidden creditworthiness
    impulse = rng.normal(size=rows)
    stress = rng.normal(size=rows)  # a shock the features only half see
    age = rng.integers(0, 1_100, size=rows)
    active = np.clip(age / 365, 0.05, 1.0)

    o365 = rng.poisson(np.exp(1.4 + 0.35 * impulse + 0.2 * worth) * active)
    o90 = rng.binomial(o365, np.clip(90 / 365 / active, 0, 1) * 0.9)
    o30 = rng.binomial(o90, 0.36)
    basket = np.exp(rng.normal(np.log(160_00) + 0.15 * impulse - 0.1 * worth, 0.55, size=rows))
    resale = np.where(
        rng.random(rows) < 0.2 + 0.1 * (worth < -1.2), rng.beta(1.2, 4 + 2 * (worth > 0), rows), 0
    )
    live = np.where(o365 > 0, rng.beta(1.5 + np.clip(impulse + 1.5, 0, None), 2.5, rows), 0)
    night = np.where(o365 > 0, rng.beta(0.6, 6 + 2 * np.clip(worth + 1, 0, None), rows), 0)
    returns = np.where(o365 > 0, rng.beta(1.2, 8, rows), 0)

    bills = rng.binomial(o365 * 2, 0.7)
    p_on_time = 1 / (1 + np.exp(-(2.6 + 1.3 * worth - 0.5 * stress)))
    paid_on_time = rng.binomial(bills, p_on_time)
    late = bills - paid_on_time
    max_dpd = np.where(late > 0, rng.geometric(np.clip(0.25 + 0.1 * worth, 0.03, 0.9)) * 3, 0)
    current = np.where((late > 0) & (rng.random(rows) < 0.35 - 0.1 * worth), rng.integers(1, 40, rows), 0)
    devices = 1 + rng.poisson(0.15 + 0.25 * (worth < -1.5), rows)
    shared = rng.poisson(0.03 + 0.6 * (worth < -2.0), rows)

    frame = pd.DataFrame(
        {
            "account_age_days": age,
            "orders_30d": o30,
            "gmv_30d": o30 * basket,
            "avg_basket_30d": np.where(o30 > 0, basket, 0),
            "orders_90d": o90,
            "gmv_90d": o90 * basket,
            "avg_basket_90d": np.where(o90 > 0, basket, 0),
            "orders_365d": o365,
            "gmv_365d": o365 * basket,
            "avg_basket_365d": np.where(o365 > 0, basket, 0),
            "declined_orders_90d": rng.poisson(0.05 + 0.3 * np.clip(-worth, 0, None)),
            "resale_share_365d": np.where(o365 > 0, resale, 0),
            "categories_365d": np.minimum(o365, 1 + rng.poisson(1.5, rows)),
            "live_share_365d": live,
            "night_share_365d": night,
            "return_rate_365d": returns,
            "on_time_ratio": np.where(bills > 0, paid_on_time / np.maximum(bills, 1), 1.0),
            "obligations_due": bills,
            "overdue_count_365d": late,
            "max_dpd_365d": np.maximum(max_dpd, current),
            "current_dpd": current,
            "utilisation": np.clip(rng.beta(2, 3, rows) - 0.12 * worth + 0.05 * impulse, 0, 1),
            "devices_90d": np.where(o90 > 0, devices, 0),
            "addresses_90d": np.where(o90 > 0, 1 + rng.poisson(0.1, rows), 0),
            "device_shared_accounts_90d": np.where(o90 > 0, shared, 0),
        }
    ).astype(float)[list(FEATURE_NAMES)]

    logit = -3.6 - 1.05 * worth + 0.55 * stress + 0.25 * impulse + 0.9 * resale * (worth < -1.2)
    true_pd = 1 / (1 + np.exp(-logit))
    bad = (rng.random(rows) < true_pd).astype(np.int64)
    return frame, bad, true_pd


def synthetic(rows: int = DEFAULT_ROWS, seed: int = 7) -> Dataset:
    frame, bad, true_pd = generate(rows, seed)
    ds = from_frame(
        "synthetic",
        frame,
        bad,
        labels={f.name: (f.en, f.zh) for f in FEATURES},
        directions={f.name: f.direction for f in FEATURES},
    )
    return replace(ds, true_pd=true_pd)
