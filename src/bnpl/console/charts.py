"""The dashboard's charts, drawn with matplotlib (Agg, object API, no pyplot state) as SVG inlined in
the page: text stays text (``svg.fonttype: none``), so it is crisp, selectable and drawn with a font
list that falls back to a CJK font (万, 套现 never render as boxes).

Each value axis has one number style, chosen from its largest tick: plain with thousands separators,
or 万 / 亿 for every tick alike; money comes in fen and is drawn in yuan; counts get whole-number
ticks only. A series of one point is drawn as a marker. A chart is a pure function of its data, and
the data changes once per business date (end of day), so charts are cached: a page pays for
drawing only after an end of day.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import re
import threading
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

COLOURS = ("#2f6f9f", "#e07b39", "#5a9e5a", "#b04a5a", "#8a6fb0", "#9a8a5a")
# Latin first (digits look the same everywhere), then CJK fonts for 万, 亿 and Chinese names
FONTS = ("DejaVu Sans", "Noto Sans CJK SC", "Noto Sans CJK", "Source Han Sans SC", "sans-serif")
_CSS_FONTS = ", ".join(f"'{f}'" if " " in f else f for f in FONTS)
RC: dict[str, Any] = {
    "font.size": 9,
    "svg.fonttype": "none",
    "svg.hashsalt": "bnpl-console",  # stable clip-path ids: the same chart is the same text
    "axes.edgecolor": "#999999",
    "axes.spines.top": False,
    "axes.spines.right": False,
}
WIDTH_IN, HEIGHT_IN = 5.6, 2.3
Unit = Literal["yuan", "count"]  # yuan: values in fen, drawn in yuan
_LOCK = threading.Lock()  # rcParams are process-wide: one drawing at a time
_GROUP_ID = re.compile(r' id="[A-Za-z.0-9]+_\d+"')  # figure_1, axes_1, ...: would repeat on a page

_FONT_FAMILY = re.compile(r"font-family: [^;\"]*")
Series = Mapping[str, Sequence[float]]
Frozen = tuple[tuple[str, tuple[float, ...]], ...]  # a series, hashable (the cache's key)


def axis_labels(values: Sequence[float]) -> list[str]:
    """One style for all of an axis's ticks: 万 or 亿 for all when the largest reaches it, with as
    many decimals as the step between ticks needs (so 0.5 never prints as 0)."""
    top = max((abs(v) for v in values), default=0.0)
    size, suffix = next(((s, x) for s, x in ((1e8, "亿"), (1e4, "万")) if top >= s), (1.0, ""))
    scaled = [v / size for v in values]
    steps = [abs(b - a) for a, b in itertools.pairwise(scaled) if b != a]
    step = min(steps, default=1.0)
    decimals = min(max(0, -math.floor(math.log10(step) + 1e-9)), 3) if step < 1 else 0
    return ["0" if v == 0 else f"{v:,.{decimals}f}{suffix}" for v in scaled]


def lines(series: Series, labels: Sequence[str], unit: Unit = "count", title: str = "") -> str:
    """One line per series over shared x labels (ISO dates)."""
    return _draw("lines", _freeze(series), tuple(labels), unit, title)


def stacked(series: Series, labels: Sequence[str], unit: Unit = "count", title: str = "") -> str:
    """Stacked bars, one per x label (ISO dates); negative values are drawn as none."""
    return _draw("stacked", _freeze(series), tuple(labels), unit, title)


def _freeze(series: Series) -> Frozen:
    return tuple((name, tuple(float(v) for v in values)) for name, values in series.items())


@lru_cache(maxsize=64)
def _draw(
    kind: str,
    series: Frozen,
    labels: tuple[str, ...],
    unit: Unit,
    title: str,
) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    rc: Any = {**RC, "font.family": _installed(FONTS)}
    with _LOCK, matplotlib.rc_context(rc):
        fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN))
        ax = fig.add_subplot()
        x = [date.fromisoformat(d) for d in labels]
        scale = 100.0 if unit == "yuan" else 1.0
        top = (_plot_lines if kind == "lines" else _plot_bars)(ax, series, x, scale)
        if top <= 0 or (unit == "count" and top < 1):  # nothing yet: an axis of 0 to 1, not 0 to 0.04
            ax.set_ylim(0, 1)
        else:
            ax.set_ylim(bottom=0)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=unit == "count", min_n_ticks=2))
        ax.yaxis.set_major_formatter(_one_style_class()())
        if len(x) <= 6:  # a tick on each day drawn (one snapshot: its date, under its marker)
            ax.set_xticks(x)  # type: ignore[arg-type]  # dates, through matplotlib's converter
        else:
            ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(_date_label))
        ax.grid(axis="y", color="#e5e9ed", linewidth=0.8)
        ax.set_axisbelow(True)
        if unit == "yuan":
            ax.set_ylabel("yuan", color="#555555")
        ax.legend(loc="upper left", bbox_to_anchor=(0, 1.18), ncols=max(len(series), 1), frameon=False)
        fig.subplots_adjust(left=0.12, right=0.98, bottom=0.14, top=0.86)
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return _inline(out.getvalue(), title)


def _plot_lines(ax: Any, series: Frozen, x: list[date], scale: float) -> float:
    """The lines (a series of one point as a marker); returns the highest value drawn."""
    top = 0.0
    for k, (name, values) in enumerate(series):
        ys = [v / scale for v in values][: len(x)]
        one = len(ys) == 1
        ax.plot(x[: len(ys)], ys, color=COLOURS[k % 6], linewidth=2, marker="o" if one else None, label=name)
        top = max([top, *ys])
    return top


def _plot_bars(ax: Any, series: Frozen, x: list[date], scale: float) -> float:
    """The stacked bars; returns the highest stack."""
    base = [0.0] * len(x)
    for k, (name, values) in enumerate(series):
        heights = [max(v, 0.0) / scale for v in values][: len(x)] + [0.0] * (len(x) - len(values))
        ax.bar(x, heights, width=0.85, bottom=base, color=COLOURS[k % 6], label=name, linewidth=0)
        base = [b + h for b, h in zip(base, heights, strict=True)]
    if len(x) == 1:
        ax.set_xlim(x[0] - timedelta(days=3), x[0] + timedelta(days=3))
    return max(base, default=0.0)


def _date_label(value: float, _pos: int | None = None) -> str:
    from matplotlib.dates import num2date

    when: datetime = num2date(value)  # type: ignore[no-untyped-call]
    return when.strftime("%m-%d")


@lru_cache(maxsize=1)
def _installed(families: tuple[str, ...]) -> list[str]:
    """The families matplotlib has (it would log every missing one on every text), for measuring
    text; the SVG names the whole list, for the browser."""
    from matplotlib import font_manager

    generic = ("serif", "sans-serif", "monospace")
    manager = font_manager.fontManager
    names = {t.name for t in manager.ttflist}
    if sum(f in names for f in families if f not in generic) < 2:
        # not the Latin font and one CJK fallback: matplotlib lists the fonts once, in a cache,
        # and never looks again, so a font installed later is not in it. Look at the system now.
        listed = {f.fname for f in manager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in listed:
                with contextlib.suppress(Exception):  # a file FreeType cannot read is skipped
                    manager.addfont(path)
    known = {f.name for f in manager.ttflist}
    return [f for f in families if f in known or f in generic]


@lru_cache(maxsize=1)
def _one_style_class() -> Any:
    from matplotlib.ticker import Formatter

    class OneStyle(Formatter):
        """Formats an axis's ticks together (``axis_labels``): one style per axis."""

        def __call__(self, x: float, pos: int | None = None) -> str:
            return axis_labels([x])[0]

        def format_ticks(self, values: Sequence[float]) -> list[str]:
            return axis_labels(list(values))

    return OneStyle


def _inline(svg: str, title: str) -> str:
    """matplotlib's SVG file as an element of the page: no prolog or metadata, no fixed size (the
    page's CSS sizes it), no repeated group ids, and a label for screen readers."""
    from html import escape

    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r'\s(width|height)="[\d.]+pt"', "", svg, count=2)
    svg = _GROUP_ID.sub("", svg)
    svg = _FONT_FAMILY.sub(f"font-family: {_CSS_FONTS}", svg)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{escape(title)}" ', 1)
