"""End of day killed with SIGKILL inside a step, or just after one commits, and run again, ends
with exactly the book of a run that was never interrupted: the same journal, obligations, cases,
contact attempts and actions, ageing, promises and step markers.

The crashing run is `bnpl eod run --date D` as a real process, which ``BNPL_EOD_CRASH_AT`` makes
kill itself at the chosen point. The run after it, and the uninterrupted one, start afresh in this
process the way the command does (settings, a fixed business date, schema upgrade, end of day):
a process costs two seconds of imports, and what is tested is the state a killed process leaves.
Each run gets its own copy of one small book: on SQLite a copy of the file, on PostgreSQL a fresh
schema built by the same deterministic steps (chosen through libpq's PGOPTIONS for the process,
since the command reads only BNPL_DATABASE_URL).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from bnpl import eod
from bnpl.collections import cases, contacts
from bnpl.runtime import ADMIN, SYSTEM, FixedClock, Platform, Settings
from bnpl.services import audit, checks
from bnpl.services.boot import open_platform
from bnpl.store import tables as t
from bnpl.store.db import make_engine
from bnpl.store.migrate import upgrade
from tests.collections import helpers as h
from tests.conftest import PG_URL, START
from tests.world import World

CRASH_POINTS = ("late_fees", "after:late_fees", "strategy", "funding")
DAY = START + timedelta(days=12)  # the business date end of day runs for
REPO = Path(__file__).resolve().parents[2]


def build(platform: Platform) -> None:
    """A small book, the day before DAY: a customer five days past due tomorrow with late fees
    already running and a promise broken, one a day past due tomorrow (a collection SMS), one
    who asked us to stop (the SMS is blocked), one with a bill due in three days (a reminder)."""
    h.skip_refreshes(platform)
    w = World.create(platform, limit=2000_00)
    platform.run(ADMIN, lambda c: cases.create_agent(c, "Ann", "agent", ["M1"]))
    platform.run(ADMIN, lambda c: cases.create_agent(c, "Cai", "specialist", []))
    w.buy(("tea", 200_00, 1))  # due START + 7
    h.set_grade(platform, w.customer_id, "D")
    h.go_to(platform, START + timedelta(days=4))
    late, ceased = h.customer(platform), h.customer(platform)
    h.buy(w, late, 100_00)  # due START + 11
    h.buy(w, ceased, 150_00)
    platform.run(ADMIN, lambda c: contacts.set_flag(c, ceased, "cease_contact", "asked in writing"))
    h.go_to(platform, START + timedelta(days=8))
    h.buy(w, h.customer(platform), 80_00)  # due START + 15
    h.go_to(platform, DAY - timedelta(days=1))
    h.run_day(platform)
    [case] = h.rows(platform, t.collection_cases, t.collection_cases.c.customer_id == w.customer_id)
    today = h.today(platform)
    platform.run(
        SYSTEM,
        lambda c: c.conn.execute(
            insert(t.promises).values(
                case_id=case.id,
                customer_id=w.customer_id,
                amount=50_00,
                made_on=today,
                due_on=today,
                status="open",
                paid=0,
            )
        ),
    )


def crashing_eod(env: dict[str, str], crash_at: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in env.items() if k != "BNPL_BUSINESS_DATE"}
    return subprocess.Popen(
        [sys.executable, "-m", "bnpl", "eod", "run", "--date", DAY.isoformat()],
        env={**env, "BNPL_EOD_CRASH_AT": crash_at, "PYTHONPATH": str(REPO / "src")},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def steps_done(platform: Platform) -> set[str]:
    return {r.step for r in h.rows(platform, t.eod_steps, t.eod_steps.c.business_date == DAY)}


def entries_on_day(platform: Platform) -> set[str]:
    return {r.kind for r in h.rows(platform, t.journal_entries, t.journal_entries.c.business_date == DAY)}


# Where each crash leaves the book: the steps whose markers committed, and the day's entries.
LEFT_BEHIND = {
    "late_fees": (set(), set()),
    "after:late_fees": ({"late_fees"}, {"late_fees"}),
    "strategy": ({"late_fees"}, {"late_fees"}),
    "funding": ({"late_fees", "strategy"}, {"late_fees"}),
}


def run_again(platform: Platform) -> None:
    """What `bnpl eod run --date DAY` does, in this process: a fresh platform on the same
    database with the business date fixed, the schema brought up to date, the whole day."""
    fresh = open_platform(platform.settings, clock=FixedClock(DAY), engine=platform.engine)
    upgrade(fresh.engine)
    eod.run_eod(fresh, on_step=h.skipping_refreshes)


def check_crashes_and_resume(
    reference: Platform, crashes: dict[str, tuple[Platform, subprocess.Popen[str]]]
) -> None:
    """The uninterrupted day on the reference copy; then, as each crashing process ends, that it
    died where asked and left what it should, and that running the day again gives the book of
    the uninterrupted run."""
    run_again(reference)
    want = h.book(reference)
    assert {"late_fees", "funding_accrual"} <= entries_on_day(reference)
    assert any(a[6] == "blocked" for a in want["collection_actions"])  # the ceased customer's SMS
    assert any(p[5] == "broken" for p in want["promises"])
    for point, (crashed, proc) in crashes.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL, (point, proc.returncode, err)
        steps, entries = LEFT_BEHIND[point]
        assert steps_done(crashed) == steps, point
        assert entries_on_day(crashed) == entries, point
        run_again(crashed)
        h.assert_same_book(h.book(crashed), want, f"resumed after a crash at {point}")
        with crashed.read() as c:
            assert checks.check_ledger(c)["ok"], point
            assert not audit.verify(c.conn)[1], point


def test_sqlite_end_of_day_resumes_after_a_crash_with_the_same_book(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BNPL_EOD_CRASH_AT", raising=False)  # the runs in this process never crash
    master = tmp_path / "master.db"
    shutil.copy(sqlite_template, master)
    builder = open_platform(Settings(database_url=f"sqlite:///{master}"), clock=FixedClock(START))
    build(builder)
    builder.dispose()  # the WAL is checkpointed into the file: a plain copy is the whole book
    copies: dict[str, Platform] = {}
    crashes: dict[str, tuple[Platform, subprocess.Popen[str]]] = {}
    for name in (*CRASH_POINTS, "reference"):
        path = tmp_path / f"{name.replace(':', '_')}.db"
        shutil.copy(master, path)
        url = f"sqlite:///{path}"
        copies[name] = open_platform(Settings(database_url=url))
        if name in CRASH_POINTS:  # the crashing processes run side by side
            proc = crashing_eod({**os.environ, "BNPL_DATABASE_URL": url}, name)
            crashes[name] = (copies[name], proc)
    try:
        check_crashes_and_resume(copies["reference"], crashes)
    finally:
        for platform in copies.values():
            platform.dispose()


@pytest.fixture
def pg_schemas() -> Iterator[list[str]]:
    if not PG_URL:
        pytest.skip("BNPL_TEST_DATABASE_URL is not set")
    names: list[str] = []
    admin = make_engine(PG_URL)
    yield names
    with admin.begin() as conn:
        for name in names:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    admin.dispose()


def test_postgres_end_of_day_resumes_after_a_crash_with_the_same_book(
    pg_schemas: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert PG_URL is not None
    monkeypatch.delenv("BNPL_EOD_CRASH_AT", raising=False)  # the runs in this process never crash
    copies: dict[str, Platform] = {}
    crashes: dict[str, tuple[Platform, subprocess.Popen[str]]] = {}
    engines: list[Engine] = []
    admin = make_engine(PG_URL)
    try:
        for name in (*CRASH_POINTS, "reference"):
            schema = f"bnpl_crash_{uuid.uuid4().hex[:8]}"
            pg_schemas.append(schema)
            with admin.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            engine = make_engine(PG_URL, pool_size=2, schema=schema)
            engines.append(engine)
            upgrade(engine)
            build(open_platform(Settings(database_url=PG_URL), clock=FixedClock(START), engine=engine))
            copies[name] = open_platform(Settings(database_url=PG_URL), engine=engine)
            if name in CRASH_POINTS:  # crashing while the next copy is built
                env = {**os.environ, "BNPL_DATABASE_URL": PG_URL, "PGOPTIONS": f"-c search_path={schema}"}
                crashes[name] = (copies[name], crashing_eod(env, name))
        check_crashes_and_resume(copies["reference"], crashes)
    finally:
        for engine in engines:
            engine.dispose()
        admin.dispose()
