"""Model monitoring numbers: population stability, the KS curve and a calibration table (numpy only).

**Population stability index (PSI).** Cut the *expected* sample (usually the training population's
scores) at its quantiles, count the share of each sample in every bin and add up
``(actual − expected) · ln(actual / expected)``. The usual reading:

* PSI < 0.1 — stable, no action;
* 0.1 ≤ PSI ≤ 0.25 — some shift, watch it and look at which bins moved;
* PSI > 0.25 — the population has shifted; the model's figures no longer describe it.

Bins are half-open, ``lower <= x < upper``, the first open below and the last open above, so a
value outside the expected sample's range still lands in a bin. Quantile edges are observed values
and deduplicated, so a sample with many ties (scorecard points) gets fewer, wider bins and no bin
of the expected sample is empty. A bin the actual sample misses has its share floored at
``SHARE_FLOOR`` in the sum so the index stays finite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

SHARE_FLOOR = 1e-4


@dataclass(frozen=True)
class PsiBin:
    """One bin of a PSI table. ``lower``/``upper`` are ``-inf``/``inf`` for the open-ended bins.

    The shares are the raw shares; ``contribution`` uses them floored at ``SHARE_FLOOR``.
    """

    lower: float
    upper: float
    expected_count: int
    actual_count: int
    expected_share: float
    actual_share: float
    contribution: float


@dataclass(frozen=True)
class CalibrationBin:
    """One quantile bin of predicted PD: how many rows, the mean prediction and the observed bad rate."""

    lower: float
    upper: float
    count: int
    bads: int
    mean_pd: float
    bad_rate: float


class KsCurve(NamedTuple):
    """Cumulative shares of bads and goods with a PD at or above each threshold (riskiest first).

    ``thresholds`` are the distinct predicted PDs in descending order; ``ks`` is the largest gap
    ``cum_bad − cum_good`` and ``ks_at`` the threshold where it occurs.
    """

    thresholds: np.ndarray
    cum_bad: np.ndarray
    cum_good: np.ndarray
    ks: float
    ks_at: float


def _sample(values: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} has missing or infinite values")
    return x


def quantile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """The distinct interior quantile edges that cut ``values`` into at most ``bins`` bins, none empty.

    Edges are observed values (``method="higher"``), so with bins ``lower <= x < upper`` every bin
    holds at least the value at its lower edge; an edge at the minimum, which would leave the
    first bin empty, is dropped. Heavy ties therefore give fewer, wider bins.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    x = _sample(values, "values")
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1], method="higher"))
    return np.asarray(edges[edges > x.min()])


def assign_bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of each value: bin i holds ``edges[i-1] <= x < edges[i]`` (len(edges) + 1 bins)."""
    return np.searchsorted(edges, np.asarray(values, dtype=float), side="right")


def _bounds(edges: np.ndarray) -> list[tuple[float, float]]:
    full = [-np.inf, *(float(e) for e in edges), np.inf]
    return [(full[i], full[i + 1]) for i in range(len(full) - 1)]


def psi_table(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> list[PsiBin]:
    """Per-bin shares and contributions; the contributions sum to ``psi(expected, actual, bins)``."""
    e = _sample(expected, "expected")
    a = _sample(actual, "actual")
    edges = quantile_edges(e, bins)
    k = len(edges) + 1
    e_count = np.bincount(assign_bins(e, edges), minlength=k)
    a_count = np.bincount(assign_bins(a, edges), minlength=k)
    e_share = e_count / e.size
    a_share = a_count / a.size
    e_floor = np.maximum(e_share, SHARE_FLOOR)
    a_floor = np.maximum(a_share, SHARE_FLOOR)
    contribution = (a_floor - e_floor) * np.log(a_floor / e_floor)
    return [
        PsiBin(lo, hi, int(ec), int(ac), float(es), float(as_), float(c))
        for (lo, hi), ec, ac, es, as_, c in zip(
            _bounds(edges), e_count, a_count, e_share, a_share, contribution, strict=True
        )
    ]


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected`` (see the module docstring).

    Always >= 0; 0 when both samples fall into the bins in the same shares. Read it as
    < 0.1 stable, 0.1–0.25 watch, > 0.25 shifted.
    """
    return float(sum(row.contribution for row in psi_table(expected, actual, bins)))


def psi_reading(value: float) -> str:
    """The usual plain-words reading of a PSI value."""
    if value < 0.1:
        return "stable"
    if value <= 0.25:
        return "watch"
    return "shift"


def _outcomes(bad: np.ndarray, pd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(bad).ravel()
    p = _sample(pd, "pd")
    if y.shape != p.shape:
        raise ValueError(f"{y.size} outcomes but {p.size} predictions")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("bad must be 0/1")
    return y.astype(np.int64), p


def ks_curve(bad: np.ndarray, pd: np.ndarray) -> KsCurve:
    """Cumulative bad and good shares by predicted PD, riskiest first, and the KS statistic.

    The same number as ``max(tpr − fpr)`` over sklearn's ``roc_curve``: at threshold t,
    ``cum_bad`` is the true-positive rate and ``cum_good`` the false-positive rate of "PD >= t".
    """
    y, p = _outcomes(bad, pd)
    n_bad = int(y.sum())
    n_good = y.size - n_bad
    if n_bad == 0 or n_good == 0:
        raise ValueError("the KS curve needs both bads and goods")
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    # the last row of every run of tied PDs closes that threshold
    last = np.r_[np.flatnonzero(np.diff(p_sorted) != 0), p_sorted.size - 1]
    cum_bad = np.cumsum(y_sorted)[last] / n_bad
    cum_good = np.cumsum(1 - y_sorted)[last] / n_good
    gap = cum_bad - cum_good
    i = int(np.argmax(gap))
    return KsCurve(p_sorted[last], cum_bad, cum_good, float(gap[i]), float(p_sorted[last][i]))


def calibration_table(bad: np.ndarray, pd: np.ndarray, bins: int = 10) -> list[CalibrationBin]:
    """Mean predicted PD against the observed bad rate in each quantile bin of the prediction.

    Ties in the prediction can merge quantile bins, so there may be fewer than ``bins`` rows.
    The counts always sum to the number of rows.
    """
    y, p = _outcomes(bad, pd)
    edges = quantile_edges(p, bins)
    index = assign_bins(p, edges)
    rows = []
    for i, (lo, hi) in enumerate(_bounds(edges)):
        mask = index == i
        count = int(mask.sum())
        if count == 0:
            continue
        bads = int(y[mask].sum())
        rows.append(CalibrationBin(lo, hi, count, bads, float(p[mask].mean()), bads / count))
    return rows
