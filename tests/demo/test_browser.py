"""The demo book in a real headless Chromium (Debian's, driven by Playwright) against a live server:
every demo role's landing page shows rows and figures of the book, the dashboard draws its charts
from months of snapshots, and Chinese text (套现 on the Rules page, 万 on a chart's axis) is drawn
with a CJK font, not as empty boxes.

Screenshots go to ``$BNPL_TEST_ARTIFACTS`` if set, else to ``artifacts`` in pytest's temporary
folder; the folder is printed (``pytest -s``, or in the report of a failure)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bnpl.app import create_app
from bnpl.domain.money import format_fen
from bnpl.runtime import ADMIN
from bnpl.services import queries
from bnpl.store.tables import collection_cases, customers, orders
from tests.browser import chromium_page
from tests.demo.conftest import DemoBook
from tests.server import live_server

CJK_FONT = re.compile(r"Noto (Sans|Serif) CJK")
# what each chart draws, read in the page: its size, the number of points of each line drawn
# through the data (clipped to the axes, not a grid line) and the bars of non-zero height
CHART_SHAPES = """() => [...document.querySelectorAll("svg[role=img]")].map(svg => {
  const box = svg.getBoundingClientRect();
  const data = [...svg.querySelectorAll("path[clip-path]")]
    .filter(p => p.style.stroke !== "rgb(229, 233, 237)");
  const lines = data.filter(p => p.style.fill === "none")
    .map(p => (p.getAttribute("d").match(/L/g) || []).length + 1);
  const bars = data.filter(p => p.style.fill !== "none" && p.getBBox().height > 0).length;
  return {label: svg.getAttribute("aria-label"), width: box.width, height: box.height, lines, bars};
})"""


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("BNPL_TEST_ARTIFACTS")
    folder = Path(where) if where else tmp_path_factory.getbasetemp() / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the demo book in {folder}")
    return folder


@pytest.fixture(scope="module")
def server(demo_book: DemoBook, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live server on a copy of the demo book (signing in writes sessions)."""
    database = demo_book.copy(tmp_path_factory.mktemp("demo-browser"))
    platform = demo_book.platform(database=database)
    with live_server(create_app(platform)) as base:
        yield base
    platform.dispose()


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Any]:
    with chromium_page(1280, 900) as p:
        yield p


def _sign_in(page: Any, base: str, book: DemoBook, role: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", f"demo.{role}")
    page.fill("input[name=password]", book.keys["console"]["password"])
    page.click("button:has-text('Sign in')")
    assert f"demo.{role}" in page.locator("nav .who").inner_text(), role


def _shot(page: Any, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, name  # a page with content, not a blank one
    return path


def _book_figures(book: DemoBook) -> dict[str, Any]:
    platform = book.platform()
    with platform.read(ADMIN) as ctx:
        customer_count = ctx.conn.execute(select(func.count()).select_from(customers)).scalar_one()
        c = collection_cases.c
        merchant_id = next(iter(book.keys["merchants"].values()))["id"]
        merchant_orders = ctx.conn.execute(
            select(func.count()).select_from(orders).where(orders.c.merchant_id == merchant_id)
        ).scalar_one()
        owed = queries.outstanding_now(ctx)
        open_cases = ctx.conn.execute(
            select(func.count()).select_from(collection_cases).where(c.status == "open")
        ).scalar_one()
    platform.dispose()
    return {
        "customers": customer_count,
        "merchant_orders": merchant_orders,
        "owed": owed,
        "cases": open_cases,
    }


def test_every_demo_role_lands_on_a_page_of_the_book(
    page: Any, server: str, demo_book: DemoBook, artifacts: Path
) -> None:
    book = _book_figures(demo_book)
    waiting = demo_book.keys["waiting"]
    overdue = next(v["id"] for name, v in demo_book.keys["customers"].items() if "(overdue)" in name)
    roles = [u.removeprefix("demo.") for u in demo_book.keys["console"]["users"]]
    assert sorted(roles) == sorted(
        ["admin", "risk_analyst", "agent", "supervisor", "field_agent", "merchant"]
    )
    for role in roles:
        _sign_in(page, server, demo_book, role)
        main = page.locator("main").inner_text()
        heading = page.locator("h1").first.inner_text()
        if role in ("admin", "risk_analyst"):
            assert heading.startswith("Portfolio"), role
            kpis = dict(
                zip(
                    page.locator(".kpi .l").all_inner_texts(),
                    page.locator(".kpi .v").all_inner_texts(),
                    strict=True,
                )
            )
            assert kpis["customers"] == f"{book['customers']:,}" and book["customers"] >= 1_000
            assert kpis["outstanding total (principal and fees), now"] == format_fen(book["owed"]["total"])
            assert book["owed"]["total"] > 0
            assert page.locator("svg[role=img]").count() == 4
        elif role == "agent":
            assert heading.startswith("My queue")
            rows = page.locator("main table tbody tr")
            assert rows.count() >= 3 and "nothing in your queue" not in main
            # the worst case first: the overdue shopper the demo printed a key for
            assert str(overdue) in rows.first.locator("td").nth(1).inner_text()
            assert re.search(r"M[123]\+?", rows.first.inner_text())
        elif role == "supervisor":
            assert heading.startswith("Supervisor")
            asked = page.locator("#visits-to-approve tbody tr")
            assert asked.count() >= 1 and f"#{waiting['visit_cases'][1]}" in asked.first.inner_text()
            assert page.locator("#visits-to-approve button:has-text('Approve')").count() >= 1
        elif role == "field_agent":
            assert heading.startswith("My visits")
            assert f"case #{waiting['visit_cases'][0]}" in main and "No visits scheduled" not in main
        elif role == "merchant":
            assert heading.startswith("Your orders")
            rows = page.locator("main section").first.locator("tbody tr")
            assert rows.count() >= 10 and "no orders yet" not in main
            assert re.search(r"#\d+", rows.first.inner_text()) and "¥" in rows.first.inner_text()
            assert book["merchant_orders"] >= rows.count()
        _shot(page, artifacts, f"landing-{role}")
    assert book["cases"] > 0


def test_the_dashboard_draws_months_of_snapshots(
    page: Any, server: str, demo_book: DemoBook, artifacts: Path
) -> None:
    _sign_in(page, server, demo_book, "risk_analyst")
    page.goto(f"{server}/console/dashboard")
    snapshots = re.search(r"(\d+) end-of-day snapshots", page.locator("h1").inner_text())
    assert snapshots and int(snapshots.group(1)) >= 60
    charts = page.evaluate(CHART_SHAPES)
    assert [c["label"] for c in charts] == [
        "Outstanding principal at each end of day",
        "Decisions per day",
        "Overdue by bucket",
        "Losses and recoveries per day",
    ]
    for chart in charts:
        assert chart["width"] > 300 and chart["height"] > 100, chart["label"]
    outstanding, decisions, buckets, _losses = charts
    # one line through every snapshot (its legend's sample is a short line of 3 points, unclipped)
    assert max(outstanding["lines"]) == int(snapshots.group(1)), outstanding
    assert decisions["bars"] >= int(snapshots.group(1)), decisions  # a bar a day at least
    assert buckets["bars"] >= 10, buckets
    # the value axes carry numbers, none printed as a bare "0" twice (the old rounding)
    for svg in page.locator("svg[role=img]").all():
        ticks = [t for t in svg.locator("text").all_text_contents() if re.fullmatch(r"[\d.,]+(万|亿)?", t)]
        assert len(ticks) >= 2 and ticks.count("0") <= 1, ticks
    _shot(page, artifacts, "dashboard")


def _fonts_of(page: Any, selector: str) -> dict[str, int]:
    """The fonts Chromium actually drew an element's text with (the platform fonts, after every
    fallback), and how many glyphs each drew: DevTools' CSS.getPlatformFontsForNode."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        assert node, selector
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    finally:
        cdp.detach()
    return {f["familyName"]: int(f["glyphCount"]) for f in fonts}


def test_chinese_text_is_drawn_with_a_cjk_font(
    page: Any, server: str, demo_book: DemoBook, artifacts: Path
) -> None:
    _sign_in(page, server, demo_book, "risk_analyst")
    page.goto(f"{server}/console/risk/rules")
    cell = page.locator("td", has_text="套现").first
    assert cell.is_visible()
    page.evaluate(
        """() => { const td = [...document.querySelectorAll("td")].find(t => t.textContent.includes("套现"));
        td.innerHTML = td.innerHTML.replace("套现", '<span id="cjk">套现</span>'); }"""
    )
    fonts = _fonts_of(page, "#cjk")
    cjk = {name: n for name, n in fonts.items() if CJK_FONT.search(name)}
    # both characters drawn by Noto CJK (fonts-noto-cjk); without it they would be boxes, or
    # another font's
    assert sum(cjk.values()) == 2, fonts
    # and the glyphs have ink that differs from character to character: two boxes would be alike
    glyphs = []
    for ch in "套现":
        page.evaluate(
            """ch => { const s = document.createElement("span"); s.className = "probe"; s.textContent = ch;
            s.style.cssText = "font-size:48px; position:fixed; left:10px; top:10px; background:#fff";
            document.body.append(s); }""",
            ch,
        )
        glyphs.append(page.locator("span.probe").screenshot())
        page.evaluate("() => document.querySelector('span.probe').remove()")
    assert glyphs[0] != glyphs[1]
    cell.scroll_into_view_if_needed()
    _shot(page, artifacts, "rules-cjk")

    # the 万 on the dashboard's money axes: SVG text, drawn by the same fonts
    page.goto(f"{server}/console/dashboard")
    page.evaluate(
        """() => { const t = [...document.querySelectorAll("svg[role=img] text")]
        .find(t => t.textContent.endsWith("万")); if (t) t.id = "wan"; }"""
    )
    assert page.locator("#wan").count() == 1, "no axis in 万 on the demo book's dashboard"
    fonts = _fonts_of(page, "#wan")
    assert any(CJK_FONT.search(name) and n >= 1 for name, n in fonts.items()), fonts
    page.locator("#wan").screenshot(path=str(artifacts / "axis-wan.png"))
