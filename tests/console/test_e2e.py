"""The console in a real headless Chromium against a real server on 127.0.0.1: every role signs in,
an agent works a case from the queue to a promise, a supervisor gets a field visit approved and the
field agents see it, and a merchant cannot open another merchant's order. Screenshots are taken
along the way (kept in the test's temporary folder)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bnpl.app import create_app
from bnpl.store.tables import collection_cases
from tests.browser import chromium_page
from tests.console.conftest import LANDING, PASSWORD, VISIT_MIN, ConsoleWorld
from tests.server import live_server


@pytest.fixture
def server(console_world: ConsoleWorld) -> Iterator[str]:
    platform = console_world.platform()
    with live_server(create_app(platform)) as base:
        yield base
    platform.dispose()


def _sign_in(page: object, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")


def test_the_console_end_to_end(server: str, console_world: ConsoleWorld, tmp_path: Path) -> None:
    world, base = console_world, server
    today = world.clock.today()
    platform = world.platform()
    with platform.read() as ctx:
        c = collection_cases.c
        visit_case = ctx.conn.execute(
            select(c.id)
            .where(c.status == "open", c.bucket.in_(("M2", "M3", "M3+")), c.overdue_amount >= VISIT_MIN)
            .order_by(c.id)
        ).scalar()
    platform.dispose()
    assert visit_case is not None, "the season left no case a visit could be asked for"
    shots: list[Path] = []

    def shot(page: object, name: str) -> None:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    with chromium_page() as page:
        # every role signs in and lands on its own page
        for role, heading in LANDING.items():
            _sign_in(page, base, world.users[role])
            assert page.locator("h1").first.inner_text().startswith(heading), role
            assert world.users[role] in page.locator("nav .who").inner_text()
            shot(page, f"home-{role}")

        # an agent works a case from the queue to a promise
        _sign_in(page, base, world.users["agent"])
        page.click(f"a[href='/console/cases/{world.case_id}']")
        assert page.locator("h1").inner_text().startswith(f"Case #{world.case_id}")
        page.select_option("form[action$='/contact'] select[name=template]", "collect_sms")
        page.select_option("form[action$='/contact'] select[name=outcome]", "reached")
        page.click("form[action$='/contact'] button")
        assert page.locator(".flash").first.is_visible()  # logged, or blocked with the rule that blocked it
        page.fill("input[name=amount_yuan]", "50")
        page.fill("input[name=due_on]", (today + timedelta(days=3)).isoformat())
        page.click("form[action$='/promise'] button")
        assert page.locator(".flash.ok").inner_text() == "promise recorded"
        assert (today + timedelta(days=3)).isoformat() in page.locator("table").nth(1).inner_text()
        shot(page, "case-promise")

        # the supervisor asks for a visit on a case in M2 or later and approves it with two field agents
        _sign_in(page, base, world.users["supervisor"])
        page.goto(f"{base}/console/cases/{visit_case}")
        page.fill("form[action$='/visit'] input[name=reason]", "no answer to calls or letters for a month")
        page.click("form[action$='/visit'] button")
        assert "visit requested" in page.locator(".flash.ok").inner_text()
        page.goto(f"{base}/console/supervisor")
        row = page.locator("#visits-to-approve tbody tr").first
        row.locator("input[name=slot]").fill(f"{(today + timedelta(days=3)).isoformat()}T10:00")
        row.locator("button:has-text('Approve')").click()
        assert "approved" in page.locator(".flash.ok").inner_text()
        shot(page, "supervisor-approved")

        # the field agents see it among their visits
        _sign_in(page, base, world.users["field_agent"])
        assert f"case #{visit_case}" in page.locator("main").inner_text()
        shot(page, "field-visits")

        # a merchant sees its own orders and cannot open another merchant's
        _sign_in(page, base, world.users["merchant"])
        page.goto(f"{base}/console/merchant/orders/{world.other_order}")
        assert page.locator("h1").inner_text() == "404"
        shot(page, "merchant-isolation")

        # the analyst's dashboard draws its charts
        _sign_in(page, base, world.users["risk_analyst"])
        assert page.locator("svg").count() == 4
        shot(page, "dashboard")
    assert all(p.stat().st_size > 10_000 for p in shots)
