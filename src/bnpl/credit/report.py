"""A self-contained HTML validation report for one trained model.

One file, no network: the pictures are PNGs embedded as ``data:`` URIs and the styling is inline.
Curves and headline metrics use out-of-fold predictions (``oof_pd``) so they are not flattered by
the training fit; the score distribution and the stability section score ``ds.frame`` (and the
recent population) with the model as trained, because that is what production will see.

Scores are on one scale for every model kind: 600 points at good:bad odds of 50:1, 20 points to
double the odds. A scorecard's points are already on it; any other model's PD is mapped onto it.

matplotlib is imported only when a report is drawn (the CLI imports this module), on the Agg
backend, and every figure is closed once it is encoded.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import pandas as pd

from bnpl.credit import monitoring
from bnpl.credit.dataset import Dataset
from bnpl.credit.evaluate import metrics
from bnpl.credit.report_charts import (
    SCORE_AXIS,
    calibration_png,
    ks_png,
    psi_png,
    roc_png,
    score_distribution_png,
    score_from_pd,
)

if TYPE_CHECKING:
    from bnpl.credit.gbm import GbmModel
    from bnpl.credit.scorecard import Scorecard

PSI_BINS = 10


class ReportModel(Protocol):
    kind: str

    def predict_pd(self, frame: pd.DataFrame) -> np.ndarray: ...


# --- scores -------------------------------------------------------------------------------------


def model_scores(model: ReportModel, frame: pd.DataFrame) -> np.ndarray:
    """A scorecard's points; for any other model, its PD on the same scale."""
    if model.kind == "scorecard":
        return np.asarray(cast("Scorecard", model).score_frame(frame), dtype=float)
    return score_from_pd(model.predict_pd(frame))


# --- formatting ---------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _bound(value: float) -> str:
    return f"{value:.4g}"


def _range(lo: float, hi: float) -> str:
    if math.isinf(lo) and math.isinf(hi):
        return "any"
    if math.isinf(lo):
        return f"< {_bound(hi)}"
    if math.isinf(hi):
        return f"≥ {_bound(lo)}"
    return f"[{_bound(lo)}, {_bound(hi)})"


def _meta_value(value: Any, nested: bool = False) -> str:
    """A registry value as plain text: mappings as ``k: v; …`` (``{k: v, …}`` when nested)."""
    if value is None:
        return "—"
    if isinstance(value, Mapping):
        items = [f"{k}: {_meta_value(v, True)}" for k, v in value.items()]
        return "{" + ", ".join(items) + "}" if nested else "; ".join(items)
    if isinstance(value, list | tuple | set | frozenset):
        text = ", ".join(_meta_value(v, True) for v in value)
        return f"[{text}]" if nested else text
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _labels(ds: Dataset, feature: str) -> tuple[str, str]:
    """English and Chinese label; the Chinese one is empty when the dataset has none of its own."""
    en, zh = ds.label(feature)
    return en, "" if zh in (en, feature) else zh


def _feature_name(ds: Dataset, feature: str) -> str:
    en, zh = _labels(ds, feature)
    return f"{en} ({zh})" if zh else en


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    numeric: Iterable[int] = (),
    cls: str = "",
) -> str:
    """An HTML table; every header and cell is escaped, columns in ``numeric`` right-aligned."""
    right = set(numeric)
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{_e(v)}</td>' if i in right else f"<td>{_e(v)}</td>" for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    attr = f' class="{_e(cls)}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(b64: str, alt: str, caption: str) -> str:
    return (
        f'<figure><img src="data:image/png;base64,{b64}" alt="{_e(alt)}" width="640">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _metadata_section(metadata: Mapping[str, Any]) -> str:
    rows = [(k, _meta_value(v)) for k, v in metadata.items()]
    body = _table(["Field", "Value"], rows, cls="meta") if rows else "<p>No registry entry was given.</p>"
    return f'<section id="model"><h2>Model</h2>{body}</section>'


def _metrics_section(ds: Dataset, oof_pd: np.ndarray) -> tuple[str, dict[str, float]]:
    m = metrics(ds.bad, oof_pd)
    gini = 2 * m["auc"] - 1
    rows = [
        ("auc", "AUC", m["auc"], "area under the ROC curve"),
        ("gini", "Gini", gini, "2 · AUC − 1"),
        ("ks", "KS", m["ks"], "largest gap between the cumulative bad and good shares"),
        ("brier", "Brier", m["brier"], "mean squared error of the PD; lower is better"),
    ]
    body = "".join(
        f'<tr><th>{_e(name)}</th><td class="num" id="metric-{key}">{_num(value)}</td><td>{_e(note)}</td></tr>'
        for key, name, value, note in rows
    )
    n_bad = int(np.sum(ds.bad))
    html_ = (
        '<section id="metrics"><h2>Headline metrics (out-of-fold)</h2>'
        f"<p>{len(ds.bad)} rows, {n_bad} bad ({_pct(n_bad / len(ds.bad))}). Every number and curve in "
        "this section and the next three uses out-of-fold PDs, not the training fit, pooled over all "
        "folds (the registry's CV figures are means over folds, so they differ slightly).</p>"
        f'<table class="metrics"><tbody>{body}</tbody></table></section>'
    )
    return html_, m


def _curves_section(ds: Dataset, oof_pd: np.ndarray, m: Mapping[str, float]) -> str:
    curve = monitoring.ks_curve(ds.bad, oof_pd)
    calibration = monitoring.calibration_table(ds.bad, oof_pd, bins=10)
    cal_rows = [
        (
            i + 1,
            f"{_range(r.lower, r.upper)}",
            r.count,
            r.bads,
            _num(r.mean_pd),
            _num(r.bad_rate),
        )
        for i, r in enumerate(calibration)
    ]
    return (
        '<section id="roc"><h2>ROC curve</h2>'
        + _img(roc_png(ds.bad, oof_pd, m["auc"]), "ROC curve", f"AUC {m['auc']:.4f} on out-of-fold PDs.")
        + '</section><section id="ks"><h2>KS curve</h2>'
        + _img(
            ks_png(curve),
            "KS curve",
            f"Cumulative share of bads and goods at or below each score; the dotted line marks the "
            f"KS gap of {curve.ks:.4f}.",
        )
        + '</section><section id="calibration"><h2>Calibration</h2>'
        + _img(
            calibration_png(calibration),
            "Calibration plot",
            "Mean predicted PD against the observed bad rate per decile of predicted PD; points on the "
            "diagonal are well calibrated.",
        )
        + _table(
            ["Bin", "Predicted PD range", "Count", "Bads", "Mean predicted PD", "Observed bad rate"],
            cal_rows,
            numeric=(0, 2, 3, 4, 5),
        )
        + "</section>"
    )


def _distribution_section(scores: np.ndarray, bad: np.ndarray) -> str:
    return (
        '<section id="scores"><h2>Score distribution by outcome</h2>'
        + _img(
            score_distribution_png(scores, bad),
            "Score distribution by outcome",
            "Scores of the training population from the model as trained (in-sample, so the separation "
            "is somewhat flattered; the out-of-fold curves above are the honest measure). "
            + SCORE_AXIS
            + ".",
        )
        + "</section>"
    )


def _psi_section(train_scores: np.ndarray, recent_scores: np.ndarray | None, recent_source: str) -> str:
    head = '<section id="psi"><h2>Population stability (PSI)</h2>'
    if recent_scores is None:
        return (
            head + '<p class="note" id="psi-unavailable">PSI unavailable: no recent population was '
            "given, so there is nothing to compare the training population with.</p></section>"
        )
    table = monitoring.psi_table(train_scores, recent_scores, bins=PSI_BINS)
    value = float(sum(r.contribution for r in table))
    reading = monitoring.psi_reading(value)
    rows: list[Sequence[object]] = [
        (
            i + 1,
            _range(r.lower, r.upper),
            r.expected_count,
            _pct(r.expected_share),
            r.actual_count,
            _pct(r.actual_share),
            _num(r.contribution),
        )
        for i, r in enumerate(table)
    ]
    rows.append(
        ("Total", "", len(train_scores), "100.0%", len(recent_scores), "100.0%", _num(value)),
    )
    return (
        head + f'<p>PSI <strong id="psi-value">{_num(value)}</strong>: <strong>{_e(reading)}</strong> '
        "(read as: below 0.1 stable, 0.1 to 0.25 watch, above 0.25 the population has shifted). "
        f"Training population: {len(train_scores)} rows; recent: {len(recent_scores)} rows "
        f"({_e(recent_source)}); bins are "
        "the training scores' deciles.</p>"
        + _img(psi_png(table, value), "Population stability", "Share of each population per score bin.")
        + _table(
            ["Bin", "Score range", "Training", "Training share", "Recent", "Recent share", "Contribution"],
            rows,
            numeric=(0, 2, 3, 4, 5, 6),
        )
        + "</section>"
    )


def _iv_strength(iv: float) -> str:
    if iv < 0.02:
        return "not predictive"
    if iv < 0.1:
        return "weak"
    if iv < 0.3:
        return "medium"
    if iv <= 0.5:
        return "strong"
    return "very strong (check for leakage)"


def _scorecard_section(card: Scorecard, ds: Dataset) -> str:
    chars = sorted(card.characteristics, key=lambda c: -c.iv)
    summary = _table(
        ["Characteristic", "Feature", "IV", "Strength", "Bins"],
        [
            (_feature_name(ds, c.feature), c.feature, _num(c.iv), _iv_strength(c.iv), len(c.attributes))
            for c in chars
        ],
        numeric=(2, 4),
    )
    parts = [
        '<section id="characteristics"><h2>Characteristics</h2>',
        "<p>One bin table per characteristic, by information value (IV), highest first. WoE is "
        "ln(share of goods / share of bads) in the bin; points are on the score scale.</p>",
        summary,
    ]
    for c in chars:
        total = sum(a.count for a in c.attributes) or 1
        rows: list[Sequence[object]] = [
            (a.label, a.count, _pct(a.count / total), _pct(a.bad_rate), _num(a.woe), f"{a.points:.1f}")
            for a in c.attributes
        ]
        rows.append(("Missing or unseen", "", "", "", "", f"{c.missing_points:.1f}"))
        en, zh = _labels(ds, c.feature)
        parts.append(
            f'<section class="characteristic" id="char-{_e(c.feature)}">'
            f'<h3>{_e(en)} <span class="zh">{_e(zh)}</span> <code>{_e(c.feature)}</code></h3>'
            f'<p>IV <strong class="iv">{_num(c.iv)}</strong> ({_e(_iv_strength(c.iv))}), {_e(c.kind)}</p>'
            + _table(
                ["Attribute", "Count", "Share", "Bad rate", "WoE", "Points"],
                rows,
                numeric=(1, 2, 3, 4, 5),
            )
            + "</section>"
        )
    parts.append("</section>")
    return "".join(parts)


def _gbm_section(model: GbmModel, ds: Dataset) -> str:
    gain = np.asarray(model.booster.feature_importance(importance_type="gain"), dtype=float)
    splits = np.asarray(model.booster.feature_importance(importance_type="split"), dtype=int)
    features = list(model.features)
    if len(features) != len(gain):
        features = list(model.booster.feature_name())
    total = float(gain.sum()) or 1.0
    order = np.argsort(-gain, kind="stable")
    rows = [
        (_feature_name(ds, features[i]), features[i], f"{gain[i]:.1f}", _pct(gain[i] / total), int(splits[i]))
        for i in order
    ]
    return (
        '<section id="importance"><h2>Feature importance</h2>'
        "<p>Total gain (reduction in training loss) from the splits on each feature in the final "
        "LightGBM booster, largest first, with the number of splits.</p>"
        + _table(["Feature", "Name", "Gain", "Share of gain", "Splits"], rows, numeric=(2, 3, 4))
        + "</section>"
    )


def _features_section(model: ReportModel, ds: Dataset) -> str:
    if model.kind == "scorecard":
        return _scorecard_section(cast("Scorecard", model), ds)
    if model.kind == "lightgbm":
        return _gbm_section(cast("GbmModel", model), ds)
    return (
        '<section id="features"><h2>Features</h2>'
        f"<p>No per-feature table for a model of kind {_e(model.kind)}.</p></section>"
    )


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","PingFang SC","Microsoft YaHei",
sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{margin-bottom:.3em}.sub{color:#555;margin-top:0}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.92em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
thead th,table.metrics th{background:#f5f5f5}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.meta td{word-break:break-word}table.meta td:first-child{white-space:nowrap;word-break:normal}
figure{margin:1em 0}img{width:640px;max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9em;max-width:640px}
.zh{color:#666;font-weight:normal}code{font-size:.85em;color:#555}
.note{background:#fff8e1;border-left:4px solid #f0c000;padding:.5em 1em}
"""


def _validate(ds: Dataset, oof_pd: np.ndarray) -> np.ndarray:
    p = np.asarray(oof_pd, dtype=float).ravel()
    if p.size != len(ds.bad):
        raise ValueError(f"oof_pd has {p.size} values but the dataset has {len(ds.bad)} rows")
    if not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("oof_pd must be probabilities in [0, 1]")
    return p


def render_report(
    *,
    title: str,
    metadata: Mapping[str, Any],
    model: ReportModel,
    ds: Dataset,
    oof_pd: np.ndarray,
    recent: pd.DataFrame | None = None,
    recent_source: str = "recent population",
) -> str:
    """The report as an HTML string (see ``write_report``)."""
    p = _validate(ds, oof_pd)
    bad = np.asarray(ds.bad, dtype=np.int64)
    if recent is not None and len(recent) == 0:
        raise ValueError("the recent population has no rows")
    train_scores = model_scores(model, ds.frame)
    recent_scores = None if recent is None else model_scores(model, recent)
    metrics_html, m = _metrics_section(ds, p)
    sub = (
        f"Dataset {ds.name}: {len(bad)} rows, {len(ds.features)} features. "
        f"Model kind: {model.kind}. Out-of-fold PDs drive the curves and headline metrics."
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{_e(title)}</h1><p class="sub">{_e(sub)}</p>'
        + _metadata_section(metadata)
        + metrics_html
        + _curves_section(ds, p, m)
        + _distribution_section(train_scores, bad)
        + _psi_section(train_scores, recent_scores, recent_source)
        + _features_section(model, ds)
        + "</body></html>\n"
    )


def write_report(
    path: str | Path,
    *,
    title: str,
    metadata: Mapping[str, Any],
    model: ReportModel,
    ds: Dataset,
    oof_pd: np.ndarray,
    recent: pd.DataFrame | None = None,
    recent_source: str = "recent population",
) -> Path:
    """Write a standalone HTML validation report for ``model`` and return its path.

    ``metadata`` is the registry entry (shown as a table), ``oof_pd`` the out-of-fold PDs for the
    rows of ``ds`` (curves and headline metrics), ``recent`` an optional recent population scored
    against the training population for the PSI section.
    """
    out = Path(path)
    text = render_report(
        title=title,
        metadata=metadata,
        model=model,
        ds=ds,
        oof_pd=oof_pd,
        recent=recent,
        recent_source=recent_source,
    )
    out.write_text(text, encoding="utf-8")
    return out
