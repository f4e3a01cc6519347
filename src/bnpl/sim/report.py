"""The portfolio report: one self-contained HTML file (charts are inline SVG drawn by matplotlib,
no script, no external file), drawn from the metrics dictionary alone — the same figures as
``metrics.json``. Given two policies' metrics it shows them side by side."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from cycler import cycler
from jinja2 import Environment, PackageLoader
from matplotlib import font_manager
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bnpl.domain.money import format_fen

Metrics = dict[str, Any]
THOUSANDS = FuncFormatter(lambda v, _pos: f"{v:,.0f}")
COLOURS = ["#2f6f9f", "#e07b39", "#5a9e5a", "#b04a5a", "#8a6fb0", "#9a8a5a", "#4aa0a8"]
WIDTH = 5.4  # inches: every chart, so that each is drawn at one scale and its text at one size
WIDE = 7.2  # a chart spanning the page (760 px wide on the page, as 5.4 in is ~570 px in a column)
HEIGHT = 3.1
LABEL_SIZE = 8  # figures printed on bars


def _count(v: float) -> str:
    return f"{v:,.0f}"


# the console's font list (console/charts.py): Latin first, then CJK, so 万 or a Chinese name never
# draws as boxes; matplotlib measures with the fonts it has, the page names the whole list
FONTS = ("DejaVu Sans", "Noto Sans CJK SC", "Noto Sans CJK", "Source Han Sans SC", "sans-serif")
CSS_FONTS = ", ".join(f"'{f}'" if " " in f else f for f in FONTS)
_KNOWN = {f.name for f in font_manager.fontManager.ttflist}

plt.rcParams.update(
    {
        "svg.fonttype": "none",  # text stays text: smaller, selectable, sharp
        "font.family": [f for f in FONTS if f in _KNOWN or f == "sans-serif"],
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": cycler(color=COLOURS),
    }
)


def _svg(draw: Callable[[Any], None], width: float = WIDTH, height: float = HEIGHT) -> str:
    fig, ax = plt.subplots(figsize=(width, height))
    try:
        draw(ax)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
    finally:
        plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"font-family: [^;\"]*", f"font-family: {CSS_FONTS}", text)
    return re.sub(r'(width|height)="[\d.]+pt"', "", text, count=2)  # scales with the page


def _yuan(fen: float) -> float:
    return fen / 100


def _season_axis(ax: Any, m: Metrics, dates: list[str]) -> list[int]:
    """The x positions of these dates as days of the season, on the axis every chart over time
    shares (from the season's first day to its last, whatever day the data begins)."""
    season = m["over_time"]["dates"]
    start = date.fromisoformat(season[0])
    ax.set_xlim(0, max(len(season) - 1, 1))
    ax.set_xlabel(f"day of season (from {season[0]})")
    return [(date.fromisoformat(d) - start).days for d in dates]


def _empty(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} this season", ha="center", va="center", color="#777")
    ax.set_axis_off()


# --- one chart per question ----------------------------------------------------------------------


def chart_decisions(m: Metrics) -> str:
    def draw(ax: Any) -> None:
        reasons = m["top_decline_reasons"]
        outcomes = m["outcomes"]
        labels = [f"{k}" for k in outcomes] + [f"  {k}" for k in reasons]
        values = list(outcomes.values()) + list(reasons.values())
        if not values:
            return _empty(ax, "checkouts")
        colours = [COLOURS[0]] * len(outcomes) + [COLOURS[1]] * len(reasons)
        ax.barh(range(len(values)), values, color=colours)
        ax.set_yticks(range(len(values)), labels)
        ax.invert_yaxis()
        ax.set_xlabel("checkouts")
        ax.xaxis.set_major_formatter(THOUSANDS)
        ax.legend(
            handles=[Rectangle((0, 0), 1, 1, color=c) for c in COLOURS[:2]],
            labels=["outcome", "reason when not approved"],
            frameon=False,
            loc="lower right",
        )

    return _svg(draw)


def chart_conversion(m: Metrics) -> str:
    def draw(ax: Any) -> None:
        groups = m["conversion"]
        names = ["conversion", "repeat_rate"]
        x = range(len(names))
        for i, (label, key) in enumerate((("offer shown", "offer"), ("control (no offer)", "control"))):
            vals = [(groups[key][n] or 0) * 100 for n in names]
            bars = ax.bar([v + i * 0.38 for v in x], vals, width=0.36, label=label)
            ax.bar_label(bars, fmt="%.1f%%", fontsize=LABEL_SIZE)
        ax.set_xticks([v + 0.19 for v in x], ["conversion of intents", "buyers who bought again"])
        ax.set_ylabel("%")
        ax.legend(frameon=False)

    return _svg(draw)


def chart_gmv(m: Metrics) -> str:
    def draw(ax: Any) -> None:
        gmv = m["gmv_by_channel"]
        if not gmv:
            return _empty(ax, "sales")
        names = list(gmv)
        later = [_yuan(gmv[c]["pay_later"]) for c in names]
        direct = [_yuan(gmv[c]["paid_at_checkout"]) for c in names]
        ax.bar(names, later, label="pay later (net of returns)")
        ax.bar(names, direct, bottom=later, label="paid at checkout")
        ax.set_ylabel("yuan")
        ax.yaxis.set_major_formatter(THOUSANDS)
        ax.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2)

    return _svg(draw)


def chart_returns(m: Metrics) -> str:
    def draw(ax: Any) -> None:
        by = m["returns"]["by_channel"]
        if not by:
            return _empty(ax, "shipments")
        bars = ax.bar(list(by), [(v or 0) * 100 for v in by.values()], color=COLOURS[3])
        ax.bar_label(bars, fmt="%.1f%%", fontsize=LABEL_SIZE)
        ax.set_ylabel("% of shipped orders returned in the trial")

    return _svg(draw)


def chart_over_time(m: Metrics) -> str:
    def draw(ax: Any) -> None:
        t = m["over_time"]
        days = _season_axis(ax, m, t["dates"])
        ax.plot(days, [_yuan(v) for v in t["outstanding"]], label="outstanding (owed by customers)")
        ax.plot(days, [_yuan(v) for v in t["capital_employed"]], label="capital employed")
        ax.set_ylabel("yuan")
        ax.yaxis.set_major_formatter(THOUSANDS)
        ax.legend(frameon=False)

    return _svg(draw)


def chart_buckets(m: Metrics) -> str:
    def draw(ax: Any) -> None:
        d = m["delinquency"]
        if not d["dates"]:
            return _empty(ax, "delinquency")
        days = _season_axis(ax, m, d["dates"])
        buckets = [b for b in ("M1", "M2", "M3", "M3+", "CO") if b in d["overdue_by_bucket"]]
        ax.stackplot(days, *[[_yuan(v) for v in d["overdue_by_bucket"][b]] for b in buckets], labels=buckets)
        ax.set_ylabel("yuan overdue")
        ax.yaxis.set_major_formatter(THOUSANDS)
        ax.legend(frameon=False, loc="upper left")

    return _svg(draw, width=WIDE)


def chart_delinquency_share(m: Metrics) -> str:
    def draw(ax: Any) -> None:
        share = m.get("delinquency_share") or {}
        dates = share.get("dates") or []
        if not dates:
            return _empty(ax, "delinquency")
        days = _season_axis(ax, m, dates)
        buckets = list(share["by_bucket"])
        ax.stackplot(
            days,
            *[[(v or 0) * 100 for v in share["by_bucket"][b]] for b in buckets],
            labels=buckets,
        )
        ax.set_ylabel("% of outstanding past due")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0f}%"))
        ax.legend(frameon=False, loc="upper left")

    return _svg(draw, width=WIDE)


def chart_vintages(m: Metrics) -> str:
    def draw(ax: Any) -> None:
        v = m["vintages"]
        curves = {name: points for name, points in (v.get("curves") or {}).items() if points}
        if not curves:
            return _empty(ax, "vintage old enough")
        for name, points in curves.items():  # a month too recent to have a point has no line
            ax.plot(range(1, len(points) + 1), [p * 100 for p in points], marker="o", label=name)
        ax.set_xlabel("months on book")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("% of amount financed 30+ DPD")
        ax.legend(frameon=False, title="shipped in")

    return _svg(draw)


def chart_auc(m: Metrics) -> str:
    def draw(ax: Any) -> None:
        auc = m["auc"]
        if m["model_auc"] is None:
            return _empty(ax, "matured orders with both outcomes")
        for name, key in (("champion model", "model"), ("oracle (true PD)", "oracle")):
            pts = auc[f"{key}_roc"]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=f"{name}: AUC {m[key + '_auc']:.3f}")
        ax.plot([0, 1], [0, 1], color="#bbb", linestyle="--", linewidth=0.8)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(frameon=False, loc="lower right")

    return _svg(draw)


def chart_calibration(m: Metrics) -> str:
    def draw(ax: Any) -> None:
        bands = m.get("calibration_by_grade") or {}
        if not bands:
            return _empty(ax, "shipped orders with a model's PD")
        names = list(bands)
        x = np.arange(len(names))
        for offset, key, label, colour in (
            (-0.2, "model_pd", "predicted (model)", COLOURS[0]),
            (0.2, "true_pd", "true (the simulator's)", COLOURS[1]),
        ):
            values = [100 * (bands[g][key] or 0) for g in names]
            bars = ax.bar(x + offset, values, width=0.4, label=label, color=colour)
            ax.bar_label(bars, labels=[f"{v:.1f}%" for v in values], fontsize=LABEL_SIZE)
        ax.set_xticks(x, [f"grade {g}" for g in names])
        ax.set_ylabel("PD, weighted by amount financed (%)")
        ax.legend(frameon=False, loc="upper left")

    return _svg(draw)


def chart_fraud(m: Metrics) -> str:
    def draw(ax: Any) -> None:
        f = m["fraud"]
        names = ["fraud caught", "fraud missed", "good not approved"]
        bars = ax.bar(
            names, [f["caught"], f["missed"], f["good_declined"]], color=[COLOURS[2], COLOURS[3], COLOURS[1]]
        )
        ax.bar_label(bars, labels=[_count(b.get_height()) for b in bars], fontsize=LABEL_SIZE)
        ax.set_ylabel("checkouts")
        ax.yaxis.set_major_formatter(THOUSANDS)

    return _svg(draw)


def chart_cure(m: Metrics) -> str:
    def draw(ax: Any) -> None:
        by = m["collections"]["cure_rate_by_action"]
        if not by:
            return _empty(ax, "collections contact")
        # one row per action, its label at the end of its bar: long action names and labels such
        # as "24% of 1,037 contacts" have the width of the chart, not of a column each
        names = sorted(by, key=lambda k: (-(by[k]["cure_rate"] or 0), k))
        rates = [(by[k]["cure_rate"] or 0) * 100 for k in names]
        bars = ax.barh(range(len(names)), rates, color=COLOURS[4], height=0.6)
        ax.set_yticks(range(len(names)), [k.replace("_", " ") for k in names])
        ax.invert_yaxis()
        ax.bar_label(
            bars,
            labels=[f"{r:.0f}% of {by[k]['contacts']:,} contacts" for r, k in zip(rates, names, strict=True)],
            fontsize=LABEL_SIZE,
            padding=3,
        )
        right = max(max(rates) * 1.5, 20)  # room for the longest label beside its bar
        ax.set_xlim(0, right)
        ax.set_xticks([t for t in (0, 25, 50, 75, 100) if t <= right])
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0f}%"))
        ax.set_xlabel("cured within 14 days")

    return _svg(draw)


def chart_economics(m: Metrics) -> str:
    def draw(ax: Any) -> None:
        per = m["economics"]["per_order"]
        parts = [
            ("MDR", per["mdr_income"]),
            ("instalment fees", per["fee_income"]),
            ("late fees", per["late_fee_income"]),
            ("recoveries", per["recovery_income"]),
            ("funding", -per["funding_cost"]),
            ("written off", -per["written_off"]),
            ("90+ DPD", -per["owed_90_plus"]),
            ("collection", -per["collection_cost"]),
        ]
        # a waterfall from top to bottom, one row per part: names read level, as on the other charts
        running = 0.0
        for i, (_, value) in enumerate(parts):
            ax.barh(i, _yuan(value), left=running, color=COLOURS[2] if value >= 0 else COLOURS[3], height=0.6)
            running += _yuan(value)
        ax.barh(len(parts), running, color=COLOURS[0], height=0.6)
        ax.set_yticks(range(len(parts) + 1), [p[0] for p in parts] + ["net"])
        ax.invert_yaxis()
        ax.set_xlabel("yuan per shipped order")
        ax.axvline(0, color="#999", linewidth=0.6)

    return _svg(draw, width=WIDE)


CHARTS: list[tuple[str, str, Callable[[Metrics], str]]] = [
    ("decisions", "Approvals and declines, with the reasons given", chart_decisions),
    (
        "conversion",
        "Conversion and repeat purchase, with the offer versus the control group",
        chart_conversion,
    ),
    ("gmv", "Sales by channel", chart_gmv),
    ("returns", "Trial returns", chart_returns),
    ("capital", "Outstanding and capital employed", chart_over_time),
    ("buckets", "Delinquency by bucket", chart_buckets),
    ("delinquency-share", "Delinquency as a share of outstanding", chart_delinquency_share),
    ("vintages", "Vintage curves by month of shipment", chart_vintages),
    ("auc", "The champion model against the oracle", chart_auc),
    ("calibration", "Calibration: predicted against true PD by grade", chart_calibration),
    ("fraud", "Fraud caught and missed, good customers not approved", chart_fraud),
    ("cure", "Collections: cure rate by action", chart_cure),
    ("economics", "Unit economics per shipped order", chart_economics),
]


def render(runs: list[tuple[str, Metrics]], title: str = "bnpl season report") -> str:
    """The HTML page for one policy's season, or two side by side."""
    env = Environment(loader=PackageLoader("bnpl.sim", "templates"), autoescape=True)
    env.filters["yuan"] = lambda fen: "—" if fen is None else format_fen(int(fen))
    env.filters["pct"] = lambda v, digits=1: "—" if v is None else f"{v * 100:.{digits}f}%"
    env.filters["n"] = lambda v: "—" if v is None else f"{v:,}"
    env.filters["times"] = lambda v: "—" if v is None else f"{v:,.1f}×"
    charts = [
        {"id": key, "title": heading, "svgs": [draw(m) for _, m in runs]} for key, heading, draw in CHARTS
    ]
    return env.get_template("report.html.j2").render(title=title, runs=runs, charts=charts)
