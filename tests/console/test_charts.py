"""The dashboard's charts (matplotlib, inlined SVG): one number style per axis, fen drawn as yuan,
a single snapshot drawn as a marker, and Chinese text measured with a CJK font, not as boxes."""

from __future__ import annotations

import re
import warnings

import pytest

from bnpl.console import charts


def _texts(svg: str) -> list[str]:
    return re.findall(r">([^<]+)</text>", svg)


@pytest.mark.parametrize(
    ("ticks", "labels"),
    [
        ([0, 0.5, 1], ["0", "0.5", "1.0"]),  # was "0 / 0 / 1": 0.5 rounded away
        ([0, 2500, 5000, 7500], ["0", "2,500", "5,000", "7,500"]),
        ([0, 5000, 10000, 15000], ["0", "0.5万", "1.0万", "1.5万"]),  # not "5,000" beside "1.0万"
        ([0, 2e8, 4e8], ["0", "2亿", "4亿"]),
    ],
)
def test_an_axis_has_one_number_style(ticks: list[float], labels: list[str]) -> None:
    assert charts.axis_labels(ticks) == labels


def test_a_single_snapshot_is_drawn_as_a_marker_under_its_date() -> None:
    svg = charts.lines({"outstanding principal": [932_400]}, ["2026-12-03"], unit="yuan", title="one")
    assert svg.startswith("<svg") and 'aria-label="one"' in svg
    assert "<use" in svg  # matplotlib draws a marker as a <use> of its defined path
    assert "12-03" in _texts(svg)


def test_money_comes_in_fen_and_is_drawn_in_yuan_with_one_style() -> None:
    svg = charts.lines({"a": [932_400, 1_900_000]}, ["2026-12-02", "2026-12-03"], unit="yuan")
    ticks = [t for t in _texts(svg) if t[0].isdigit() and "-" not in t]
    assert ticks[0] == "0" and all(t.endswith("万") for t in ticks[1:]), ticks  # 19,000 yuan at the top


def test_counts_get_whole_ticks_and_an_empty_chart_an_axis_of_0_to_1() -> None:
    svg = charts.stacked({"approve": [0.0]}, ["2026-12-03"])
    ticks = [t for t in _texts(svg) if t[0].isdigit() and "-" not in t]
    assert ticks == ["0", "1"]


def test_chinese_text_is_measured_with_a_cjk_font_and_named_for_the_browser() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        svg = charts.stacked({"套现 written off": [1.0, 2.0]}, ["2026-12-02", "2026-12-03"], unit="yuan")
    assert "套现 written off" in _texts(svg)
    assert "'Noto Sans CJK SC'" in svg and "sans-serif" in svg


def test_a_font_installed_after_matplotlib_listed_its_fonts_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib import font_manager

    manager = font_manager.fontManager
    if not any("NotoSansCJK" in path for path in font_manager.findSystemFonts()):
        pytest.skip("no Noto Sans CJK font on this machine")
    # matplotlib's list as a cache built before the font was installed would have it
    stale = [f for f in manager.ttflist if "CJK" not in f.name]
    monkeypatch.setattr(manager, "ttflist", stale)
    assert "Noto Sans CJK SC" in charts._installed.__wrapped__(charts.FONTS)


def test_charts_on_one_page_repeat_no_group_ids() -> None:
    a = charts.lines({"x": [1.0, 2.0]}, ["2026-12-02", "2026-12-03"])
    assert not re.search(r'id="(figure|axes|line2d|text)_\d+"', a)
