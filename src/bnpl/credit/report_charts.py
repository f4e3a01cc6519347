"""The report's pictures: ROC, KS, calibration, score distribution and stability, each drawn with
matplotlib on the Agg backend and returned as a base64 PNG (matplotlib is imported only when one is
drawn, and every figure is closed once it is encoded)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from bnpl.credit import monitoring

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SCORE_AXIS = "Score (600 = 50:1 good:bad odds; +20 points doubles the odds)"
FIG_WIDTH_IN = 6.4  # 640 px at 100 dpi
DPI = 100
GOOD_COLOUR = "#2b8cbe"
BAD_COLOUR = "#e34a33"


def score_from_pd(pd_: np.ndarray) -> np.ndarray:
    """PD mapped onto the 600 / 50:1 / 20 scale (PDs are clipped away from 0 and 1 first)."""
    from bnpl.credit.assess import scores_from_pds

    return scores_from_pds(pd_)


@contextmanager
def _figure(height: float = 4.0) -> Iterator[tuple[Figure, Axes]]:
    """A pyplot figure on the Agg backend, always closed afterwards."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(FIG_WIDTH_IN, height), dpi=DPI)
    try:
        yield fig, ax
    finally:
        plt.close(fig)


def _png(fig: Figure) -> str:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def roc_png(bad: np.ndarray, pd_: np.ndarray, auc: float) -> str:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(bad, pd_)
    with _figure(4.4) as (fig, ax):
        ax.plot(fpr, tpr, color=BAD_COLOUR, lw=2, label=f"Out-of-fold (AUC {auc:.4f})")
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="No skill (AUC 0.5)")
        ax.set_xlabel("False positive rate (share of goods flagged)")
        ax.set_ylabel("True positive rate (share of bads caught)")
        ax.set_title("ROC curve")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.legend(loc="lower right")
        ax.grid(alpha=0.3)
        return _png(fig)


def ks_png(curve: monitoring.KsCurve) -> str:
    scores = score_from_pd(curve.thresholds)  # ascending: riskiest (highest PD) first
    i = int(np.argmax(curve.cum_bad - curve.cum_good))
    at = float(scores[i])
    with _figure() as (fig, ax):
        ax.step(scores, curve.cum_bad, where="post", color=BAD_COLOUR, lw=2, label="Bads")
        ax.step(scores, curve.cum_good, where="post", color=GOOD_COLOUR, lw=2, label="Goods")
        ax.vlines(at, curve.cum_good[i], curve.cum_bad[i], color="black", lw=2, ls=":")
        ax.annotate(
            f"KS {curve.ks:.4f}\nat score {at:.0f}",
            xy=(at, (curve.cum_good[i] + curve.cum_bad[i]) / 2),
            xytext=(8, 0),
            textcoords="offset points",
            va="center",
        )
        ax.set_xlabel(SCORE_AXIS)
        ax.set_ylabel("Cumulative share at or below the score")
        ax.set_title("KS curve (out-of-fold)")
        ax.set_ylim(0, 1.01)
        ax.legend(loc="lower right")
        ax.grid(alpha=0.3)
        return _png(fig)


def calibration_png(rows: Sequence[monitoring.CalibrationBin]) -> str:
    predicted = np.array([r.mean_pd for r in rows])
    observed = np.array([r.bad_rate for r in rows])
    top = float(max(predicted.max(), observed.max(), 0.05)) * 1.08
    with _figure(4.4) as (fig, ax):
        ax.plot([0, top], [0, top], ls="--", color="grey", lw=1, label="Perfect calibration")
        ax.plot(predicted, observed, marker="o", color=BAD_COLOUR, lw=1.5, label="Quantile bins")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel("Mean predicted PD in bin (out-of-fold)")
        ax.set_ylabel("Observed bad rate in bin")
        ax.set_title("Calibration by decile of predicted PD")
        ax.legend(loc="upper left")
        ax.grid(alpha=0.3)
        return _png(fig)


def score_distribution_png(scores: np.ndarray, bad: np.ndarray) -> str:
    edges = np.histogram_bin_edges(scores, bins=30)
    good_s, bad_s = scores[bad == 0], scores[bad == 1]
    with _figure() as (fig, ax):
        for values, colour, name in ((good_s, GOOD_COLOUR, "Goods"), (bad_s, BAD_COLOUR, "Bads")):
            ax.hist(
                values,
                bins=edges.tolist(),
                weights=np.full(len(values), 1 / max(len(values), 1)),
                alpha=0.55,
                color=colour,
                label=f"{name} (n = {len(values)})",
            )
        ax.set_xlabel(SCORE_AXIS)
        ax.set_ylabel("Share of the group")
        ax.set_title("Score distribution by outcome (training population)")
        ax.legend()
        ax.grid(alpha=0.3)
        return _png(fig)


def psi_png(table: Sequence[monitoring.PsiBin], value: float) -> str:
    x = np.arange(len(table))
    with _figure() as (fig, ax):
        ax.bar(x - 0.2, [r.expected_share for r in table], 0.4, color=GOOD_COLOUR, label="Training")
        ax.bar(x + 0.2, [r.actual_share for r in table], 0.4, color=BAD_COLOUR, label="Recent")
        ax.set_xticks(x, [str(i + 1) for i in x])
        ax.set_xlabel("Score bin, lowest scores first (ranges in the table below)")
        ax.set_ylabel("Share of the population")
        ax.set_title(f"Population stability: PSI {value:.4f}")
        ax.legend()
        ax.grid(alpha=0.3, axis="y")
        return _png(fig)


# --- sections -----------------------------------------------------------------------------------
