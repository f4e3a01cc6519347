"""Small inline SVG charts for the console, drawn in microseconds (no plotting library on a page
that must answer in well under 300 ms). Pure functions: series in, SVG text out, escaped."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

COLOURS = ("#2f6f9f", "#e07b39", "#5a9e5a", "#b04a5a", "#8a6fb0", "#9a8a5a")
W, H, PAD_L, PAD_B, PAD_T = 560, 200, 64, 24, 10


def _scale(top: float) -> float:
    return top if top > 0 else 1.0


def _axis(top: float, labels: list[str], unit: str) -> list[str]:
    parts = [f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W}" y2="{H - PAD_B}" stroke="#999"/>']
    for frac in (0, 0.5, 1):
        y = H - PAD_B - frac * (H - PAD_B - PAD_T)
        parts.append(
            f'<text x="{PAD_L - 6}" y="{y + 4:.0f}" text-anchor="end" font-size="11" fill="#555">'
            f"{escape(_short(top * frac))}{escape(unit)}</text>"
        )
    if labels:
        for i in (0, len(labels) - 1):
            x = PAD_L + (W - PAD_L) * (i / max(len(labels) - 1, 1))
            anchor = "start" if i == 0 else "end"
            parts.append(
                f'<text x="{x:.0f}" y="{H - 6}" text-anchor="{anchor}" font-size="11" fill="#555">'
                f"{escape(labels[i])}</text>"
            )
    return parts


def _short(v: float) -> str:
    for size, suffix in ((1e8, "亿"), (1e4, "万")):
        if abs(v) >= size:
            return f"{v / size:.1f}{suffix}"
    return f"{v:,.0f}"


def lines(series: dict[str, list[float]], labels: list[str], unit: str = "", title: str = "") -> str:
    """One line per series over shared x labels (dates)."""
    top = _scale(max((max(v) for v in series.values() if v), default=0))
    n = max((len(v) for v in series.values()), default=0)
    parts = _axis(top, labels, unit)
    for k, values in enumerate(series.values()):
        points = " ".join(
            f"{PAD_L + (W - PAD_L) * (i / max(n - 1, 1)):.1f},{H - PAD_B - (H - PAD_B - PAD_T) * v / top:.1f}"
            for i, v in enumerate(values)
        )
        parts.append(f'<polyline fill="none" stroke="{COLOURS[k % 6]}" stroke-width="2" points="{points}"/>')
    return _frame(parts, series.keys(), title)


def stacked(series: dict[str, list[float]], labels: list[str], unit: str = "", title: str = "") -> str:
    """Stacked bars, one per x label."""
    n = max((len(v) for v in series.values()), default=0)
    totals = [sum(v[i] for v in series.values() if i < len(v)) for i in range(n)]
    top = _scale(max(totals, default=0))
    width = (W - PAD_L) / max(n, 1)
    parts = _axis(top, labels, unit)
    base = [0.0] * n
    for k, values in enumerate(series.values()):
        for i, v in enumerate(values):
            if v <= 0:
                continue
            h = (H - PAD_B - PAD_T) * v / top
            y = H - PAD_B - (H - PAD_B - PAD_T) * base[i] / top - h
            parts.append(
                f'<rect x="{PAD_L + i * width + 0.5:.1f}" y="{y:.1f}" width="{max(width - 1, 0.5):.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[k % 6]}"/>'
            )
            base[i] += v
    return _frame(parts, series.keys(), title)


def _frame(parts: list[str], names: Iterable[str], title: str) -> str:
    legend = "".join(
        f'<tspan fill="{COLOURS[k % 6]}">■</tspan> {escape(name)}  ' for k, name in enumerate(names)
    )
    return (
        f'<svg viewBox="0 0 {W} {H + 18}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="{PAD_L}" y="{H + 14}" font-size="12">{legend}</text>{"".join(parts)}</svg>'
    )
