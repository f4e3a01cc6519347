"""`bnpl serve --demo` opens on a living book: a champion model, overdue cases in every bucket, checkouts
waiting for review, a field visit to approve and one scheduled, months of end-of-day snapshots, and
one member of staff per role whose landing page has work on it; today is the open business date,
so end of day runs on it at once."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import func, select

from bnpl.demo import prepare
from bnpl.eod import run_eod
from bnpl.runtime import ADMIN
from bnpl.services import business_days, queries
from bnpl.store.tables import collection_cases, field_visits
from tests.console.conftest import sign_in
from tests.demo.conftest import DemoBook

ROLES = ("admin", "risk_analyst", "agent", "supervisor", "field_agent", "merchant")


def _user(book: DemoBook, role: str) -> tuple[str, str]:
    staff = book.keys["console"]
    return f"demo.{role}", staff["password"]


def test_the_book_is_alive(demo_book: DemoBook) -> None:
    platform = demo_book.platform()
    with platform.read(ADMIN) as ctx:
        roles = {m["role"] for m in queries.registered_models(ctx)}
        reviews = queries.order_ids_in_status(ctx, "review")
        asked = queries.visit_ids_in_status(ctx, "requested")
        scheduled = queries.visit_ids_in_status(ctx, "approved")
        c = collection_cases.c
        buckets = dict(
            ctx.conn.execute(
                select(c.bucket, func.count()).where(c.status == "open").group_by(c.bucket)
            ).all()
        )
        last_closed = business_days.last_closed(ctx.conn)
        done = ctx.conn.execute(
            select(func.count()).select_from(field_visits).where(field_visits.c.outcome.is_not(None))
        ).scalar_one()
    platform.dispose()
    assert "champion" in roles
    assert {"M1", "M2", "M3", "M3+"} <= set(buckets), buckets
    assert reviews and asked and scheduled and done
    assert last_closed == demo_book.today - timedelta(days=1)  # today is the open business date
    assert demo_book.keys["waiting"]["reviews"] == len(reviews)


def test_every_role_lands_on_a_page_with_work_on_it(demo_client: TestClient, demo_book: DemoBook) -> None:
    expected = {  # what each landing page shows when the book is alive
        "admin": r"\d+ end-of-day snapshots",
        "risk_analyst": r"\d+ end-of-day snapshots",
        "agent": r'href="/console/cases/\d+"',
        "supervisor": r"Approve",
        "field_agent": r"Visit #\d+",
        "merchant": r"review",
    }
    assert set(demo_book.keys["console"]["users"]) == {f"demo.{role}" for role in ROLES}
    for role in ROLES:
        demo_client.cookies.clear()
        assert sign_in(demo_client, *_user(demo_book, role)).status_code == 303, role
        page = demo_client.get("/console")
        assert page.status_code == 200, role
        assert re.search(expected[role], page.text), role
    demo_client.cookies.clear()
    sign_in(demo_client, *_user(demo_book, "admin"))
    snapshots = re.search(r"(\d+) end-of-day snapshots", demo_client.get("/console/dashboard").text)
    assert snapshots and int(snapshots.group(1)) >= 60  # a few months of them
    assert "SHARED_DEVICE" in demo_client.get("/console/risk/reviews").text


def test_the_agent_opens_their_cases_and_their_customers(
    demo_client: TestClient, demo_book: DemoBook
) -> None:
    sign_in(demo_client, *_user(demo_book, "agent"))
    queue = demo_client.get("/console/queue").text
    cases = re.findall(r'href="/console/cases/(\d+)"', queue)
    assert len(set(cases)) >= 3
    for case_id in sorted(set(cases))[:3]:
        page = demo_client.get(f"/console/cases/{case_id}")
        assert page.status_code == 200
        customer = re.search(r'href="/console/customers/(\d+)"', page.text)
        assert customer, case_id
        assert demo_client.get(f"/console/customers/{customer.group(1)}").status_code == 200


def test_end_of_day_runs_on_the_book_today_and_tomorrow(demo_book: DemoBook, tmp_path: Path) -> None:
    database = demo_book.copy(tmp_path)
    for day in (demo_book.today, demo_book.today + timedelta(days=1)):
        platform = demo_book.platform(day, database)
        summary = run_eod(platform)
        platform.dispose()
        assert summary["business_date"] == day.isoformat()


def test_a_later_start_reuses_the_book_or_closes_the_missed_dates(
    demo_book: DemoBook, tmp_path: Path
) -> None:
    database = demo_book.copy(tmp_path)
    keys = tmp_path / "demo-keys.json"

    def start(day: date) -> tuple[dict[str, Any], date | None]:
        platform = demo_book.platform(day, database)
        again = prepare(platform, Console(quiet=True), keys)
        with platform.read() as ctx:
            last = business_days.last_closed(ctx.conn)
        platform.dispose()
        return again, last

    today = demo_book.today
    for day, closed in (
        (today, today - timedelta(days=1)),
        (today + timedelta(days=3), today + timedelta(days=2)),
    ):
        again, last = start(day)
        assert again["console"] == demo_book.keys["console"]  # the same book, not a new one
        assert last == closed
    # after the day's end of day, a start on the same day keeps the book too
    platform = demo_book.platform(today + timedelta(days=3), database)
    run_eod(platform)
    platform.dispose()
    again, last = start(today + timedelta(days=3))
    assert again["console"] == demo_book.keys["console"] and last == today + timedelta(days=3)
