"""Fixtures: a platform on SQLite always, and on PostgreSQL when BNPL_TEST_DATABASE_URL is set.

SQLite tests copy a migrated template file; PostgreSQL tests share one migrated schema per run and
truncate it between tests. The business clock is a FixedClock the test moves by hand.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bnpl.services.context import FixedClock, Platform, Settings
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
    clock = FixedClock(START)
    if backend == "sqlite":
        path = tmp_path / "bnpl.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
        return Platform(Settings(database_url=url), clock=clock)
    engine = request.getfixturevalue("pg_engine")
    truncate(engine)
    return Platform(Settings(database_url=str(engine.url)), clock=clock, engine=engine)


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
