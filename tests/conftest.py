"""Fixtures: a platform on SQLite always, and on PostgreSQL when BNPL_TEST_DATABASE_URL is set.

SQLite tests copy a migrated template file; PostgreSQL tests share one migrated schema per run and
truncate it between tests. The business clock is a FixedClock the test moves by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bnpl.runtime import FixedClock, Platform, Settings
from bnpl.services.boot import open_platform
from bnpl.store.db import make_engine
from bnpl.store.migrate import upgrade
from bnpl.store.tables import metadata

PG_URL = os.environ.get("BNPL_TEST_DATABASE_URL")
BACKENDS = ["sqlite", "postgres"] if PG_URL else ["sqlite"]
START = date(2026, 3, 2)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "bnpl.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    if not PG_URL:
        pytest.skip("BNPL_TEST_DATABASE_URL is not set")
    schema = f"bnpl_test_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = make_engine(PG_URL, pool_size=30, schema=schema)
    upgrade(engine)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


def truncate(engine: Engine) -> None:
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def make_platform(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Platform:
    """A platform on a fresh book. A test marked ``forward_dates`` jumps the clock over days it
    does not close, as an operator allowing forward dates would (``BNPL_ALLOW_FORWARD_DATES``)."""
    clock = FixedClock(START)
    forward = request.node.get_closest_marker("forward_dates") is not None
    if backend == "sqlite":
        path = tmp_path / "bnpl.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
        return open_platform(Settings(database_url=url, allow_forward_dates=forward), clock=clock)
    engine = request.getfixturevalue("pg_engine")
    truncate(engine)
    settings = Settings(database_url=str(engine.url), allow_forward_dates=forward)
    return open_platform(settings, clock=clock, engine=engine)


@pytest.fixture(params=BACKENDS)
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    p = make_platform(request.param, request, tmp_path)
    yield p
    if request.param == "sqlite":
        p.dispose()


@pytest.fixture
def sqlite_platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    p = make_platform("sqlite", request, tmp_path)
    yield p
    p.dispose()


@pytest.fixture
def pg_platform(request: pytest.FixtureRequest, tmp_path: Path) -> Platform:
    if not PG_URL:
        pytest.skip("BNPL_TEST_DATABASE_URL is not set")
    return make_platform("postgres", request, tmp_path)


class TimeOfDayClock(FixedClock):
    """A FixedClock whose timestamps fall at a chosen time of day, not the real one, so a test can
    place events before and after a moment on the same business day, or at night."""

    def __init__(self) -> None:
        super().__init__(START)
        self.at = time(10)

    def set(self, day: int, hour: int, minute: int = 0) -> None:
        self.day, self.at = START + timedelta(days=day), time(hour, minute)

    def now(self) -> datetime:
        return datetime.combine(self.day, self.at, tzinfo=UTC)


@pytest.fixture
def bnpl(tmp_path: Path) -> Any:
    """The `bnpl` command as a user runs it: a real process on a fresh SQLite file."""
    env = {
        **os.environ,
        "BNPL_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "BNPL_BUSINESS_DATE": "2026-03-02",
    }

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "bnpl", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc

    return run
