"""Engines for SQLite (embedded default) and PostgreSQL, and transactions with retry.

SQLite runs in WAL mode and starts every transaction with ``BEGIN IMMEDIATE`` so a
read-then-write cannot interleave with another writer. PostgreSQL runs READ COMMITTED with
row locks taken in a fixed order (customer account first); serialisation failures and
deadlocks (SQLSTATE 40001, 40P01) are retried, and so is work that raises ``RunAgain``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError

T = TypeVar("T")

RETRYABLE_SQLSTATES = {"40001", "40P01"}


def make_engine(url: str, pool_size: int = 10, schema: str | None = None) -> Engine:
    """An engine for ``url``; ``schema`` (PostgreSQL) isolates a test run or a benchmark."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        connect_args=connect_args,
        json_serializer=json_bytes,
    )


def json_bytes(value: Any) -> bytes:
    """JSON columns' values as psycopg sends them, by orjson: the standard library's encoder was
    a tenth of a batched checkout's Python time (five JSON values a checkout). Numbers and NumPy
    scalars as the standard encoder writes them; a NaN (which PostgreSQL refuses) becomes null."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def plan_once(engine: Engine) -> None:
    """Have ``engine``'s new PostgreSQL connections plan each prepared statement once, for every
    set of values (``plan_cache_mode = force_generic_plan``). For the checkout batches' statements,
    look-ups by keys (the velocity counts' too, by customer within a time window) whose best plan
    does not depend on the values: left to choose, PostgreSQL planned most of them anew at every
    execution (a third of its time on a batch, measured in pg_stat_statements), as a plan for an
    array of keys is costed for ten keys when prepared. A statement is planned again when its
    tables are analysed."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "connect")
    def _generic_plans(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # a SET, not a startup option, which a pooler such as PgBouncer may refuse; committed, as
        # a SET rolled back with its transaction is undone
        dbapi_conn.execute("SET plan_cache_mode = force_generic_plan")
        dbapi_conn.commit()


def _sqlite_engine(url: str) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        # 64 MiB of pages, not the default 2: batch jobs and the console read the whole book
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class RunAgain(Exception):
    """Raised by work that met another transaction's commit it must see (a key another request
    kept first): the transaction is rolled back and run again, as a serialisation failure is."""


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, RunAgain):
        return True
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        sqlstate = getattr(orig, "sqlstate", None)
        if sqlstate in RETRYABLE_SQLSTATES:
            return True
        if isinstance(exc, OperationalError) and "database is locked" in str(orig):
            return True
    return False


def in_transaction(engine: Engine, work: Callable[[Connection], T], attempts: int = 8) -> T:
    """Run ``work`` in one transaction, committing on success; retry serialisation failures and
    ``RunAgain``."""
    for attempt in range(attempts):
        try:
            with engine.begin() as conn:
                return work(conn)
        except (DBAPIError, RunAgain) as exc:
            if not is_retryable(exc) or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.005 * 2**attempt))
    raise AssertionError("unreachable")
