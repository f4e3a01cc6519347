"""What a reader of the season report found hard, each kept fixed: the net contribution stands beside
the net after the loss the book still carries, delinquency is charted as a share of outstanding,
approvals and "good not approved" are defined on the page (lower offers counted one way), capital
turnover is said one way, counts carry thousands separators, the vintage legend names only months
with a line, every chart is drawn at one scale, the charts over time share one x axis from the
season's first day, and no chart draws text over text (the cure rates' labels did)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from bnpl.sim.engine import SimConfig
from bnpl.sim.policy import load_policy
from bnpl.sim.report import WIDE, WIDTH, render
from bnpl.sim.season import run_one

CONFIG = SimConfig(customers=600, days=50, seed=11)


@pytest.fixture(scope="module")
def metrics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out: Path = tmp_path_factory.mktemp("season-reading")
    return run_one(CONFIG, load_policy("baseline"), out)


def _section(html: str, key: str) -> str:
    found = re.search(rf'<section id="{re.escape(key)}"[^>]*>(.*?)</section>', html, re.S)
    assert found, key
    return found.group(1)


def test_net_after_expected_loss_stands_beside_the_net(metrics: dict[str, Any]) -> None:
    expected = metrics["expected_loss_in_book_true"]
    assert expected > 0
    assert metrics["net_after_expected_loss"] == metrics["economics"]["totals"]["net"] - expected
    head = _section(render([("baseline", metrics)]), "headline")
    from bnpl.domain.money import format_fen

    assert "Net after expected loss" in head and format_fen(metrics["net_after_expected_loss"]) in head


def test_delinquency_is_charted_as_a_share_of_outstanding(metrics: dict[str, Any]) -> None:
    share = metrics["delinquency_share"]
    assert share["dates"] == metrics["delinquency"]["dates"]
    owed = dict(zip(metrics["over_time"]["dates"], metrics["over_time"]["outstanding"], strict=True))
    last = share["dates"][-1]
    overdue = sum(metrics["delinquency"]["overdue_by_bucket"][b][-1] for b in share["by_bucket"])
    assert share["total"][-1] == pytest.approx(overdue / owed[last], abs=1e-3)
    section = _section(render([("baseline", metrics)]), "delinquency-share")
    assert "<svg" in section and "% of outstanding past due" in section


def test_approvals_and_good_not_approved_are_defined_on_the_page(metrics: dict[str, Any]) -> None:
    html = render([("baseline", metrics)])
    assert "a lower offer is not an approval" in _section(html, "headline")
    assert "approve_lower" in _section(html, "decisions")
    fraud = _section(html, "fraud")
    assert "good not approved" in fraud and "lower offers" in fraud
    assert "good declined" not in fraud


def test_capital_turnover_is_said_one_way(metrics: dict[str, Any]) -> None:
    html = render([("baseline", metrics)])
    annual = metrics["economics"]["capital_turnover"]["annualised"]
    said = f"{annual:,.1f}× a year"
    assert said in _section(html, "headline") and said in _section(html, "economics")
    assert "times in the season" not in html


def test_counts_carry_thousands_separators_and_the_vintage_legend_has_no_empty_month(
    metrics: dict[str, Any],
) -> None:
    big = copy.deepcopy(metrics)
    big["auc"]["orders"], big["fraud"]["caught"], big["fraud"]["missed"] = 2248, 12345, 1001
    big["vintages"]["curves"]["2099-01"] = []  # a month too recent to have a point
    html = render([("baseline", big)])
    assert "2,248 matured orders" in html
    assert "12,345 / 1,001" in _section(html, "headline")
    assert "12,345" in _section(html, "fraud")  # the bar's label too
    assert "2099-01" not in _section(html, "vintages")


def test_every_chart_is_drawn_at_one_scale(metrics: dict[str, Any]) -> None:
    html = render([("baseline", metrics)])
    for key in re.findall(r'<section id="([^"]+)"', html):
        if key == "headline":
            continue
        section = re.search(rf'<section id="{key}"([^>]*)>(.*?)</section>', html, re.S)
        assert section
        widths = {float(w) for w in re.findall(r'<svg[^>]*viewBox="0 0 ([\d.]+) ', section.group(2))}
        wide = 'class="wide"' in section.group(1)
        assert widths == {(WIDE if wide else WIDTH) * 72}, key
    sizes = set(re.findall(r"font-size: ?([\d.]+)px", html.split("</style>", 1)[1]))
    assert len(sizes) <= 2, sizes  # the axis text and the figures on bars
    families = set(re.findall(r"font-family: ([^;\"]*)", html.split("</style>", 1)[1]))
    assert len(families) == 1 and "Noto Sans CJK SC" in families.pop()  # the console's list


def _x_axis(svg: str) -> list[str]:
    """The texts of a matplotlib SVG chart's x axis: its tick labels, then its label."""
    axis = svg.split('<g id="matplotlib.axis_1">', 1)[1].split('<g id="matplotlib.axis_2">', 1)[0]
    return re.findall(r"<text[^>]*>([^<]*)</text>", axis)


def test_the_charts_over_time_share_one_x_axis_from_the_first_day_of_the_season(
    metrics: dict[str, Any],
) -> None:
    html = render([("baseline", metrics)])
    start = metrics["over_time"]["dates"][0]
    assert metrics["delinquency"]["dates"][0] > start  # nobody is overdue on the first day
    axes = {key: _x_axis(_section(html, key)) for key in ("capital", "buckets", "delinquency-share")}
    for key, texts in axes.items():
        assert texts[-1] == f"day of season (from {start})", key
        assert texts[0] == "0", key
    assert axes["buckets"] == axes["capital"] == axes["delinquency-share"]


def test_no_chart_has_text_drawn_over_text(metrics: dict[str, Any], tmp_path: Path) -> None:
    """Measured in a real browser with the page's fonts: no two texts of a chart overlap. The cure
    chart is given many actions with long names and large counts (its labels overlapped)."""
    from tests.browser import chromium_page

    busy = copy.deepcopy(metrics)
    busy["collections"]["cure_rate_by_action"] = {
        name: {"contacts": 12_345 + i * 1_111, "cure_rate": rate}
        for i, (name, rate) in enumerate(
            (
                ("push", 0.62),
                ("sms", 0.41),
                ("email", 0.25),
                ("call_unanswered", 0.24),
                ("call", 0.2),
                ("letter", 0.1),
                ("field_visit", 0.0),
                ("agency", 1.0),
            )
        )
    }
    page_file = tmp_path / "report.html"
    page_file.write_text(render([("baseline", busy)]), encoding="utf-8")
    overlaps = """() => [...document.querySelectorAll("section[id] svg")].flatMap(svg => {
      const boxes = [...svg.querySelectorAll("text")].filter(t => t.textContent.trim())
        .map(t => [t.textContent, t.getBoundingClientRect()]);
      const hit = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5
        && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
      return boxes.flatMap(([s, a], i) => boxes.slice(i + 1).filter(([, b]) => hit(a, b))
        .map(([t]) => `${svg.closest("section").id}: ${s} / ${t}`));
    })"""
    with chromium_page(1280, 900) as page:
        page.goto(page_file.resolve().as_uri())
        assert page.locator("#cure svg text", has_text="12,345 contacts").count() == 1
        found = page.evaluate(overlaps)
        page.locator("#cure").screenshot(path=str(tmp_path / "cure.png"))
    assert found == []
