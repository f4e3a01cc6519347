"""Statements sent straight to the driver (``store.direct``): the same rows as through SQLAlchemy on
either database, a driver's error as SQLAlchemy's (so a transaction's retry sees it), and the
engine's statement listeners told of each one."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, event, func, insert, literal, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from bnpl.runtime import Platform
from bnpl.store.bulk import among_named
from bnpl.store.db import in_transaction, is_retryable
from bnpl.store.direct import Direct
from bnpl.store.tables import collection_agents, idempotency_keys

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)


def _agents(platform: Platform, n: int) -> list[int]:
    with platform.engine.begin() as conn:
        rows = [
            {"name": f"Agent {i}", "role": "agent", "skills": ["M1"], "active": 1, "created_at": NOW}
            for i in range(n)
        ]
        return list(
            conn.execute(
                insert(collection_agents).returning(collection_agents.c.id, sort_by_parameter_order=True),
                rows,
            ).scalars()
        )


def test_rows_are_those_sqlalchemy_reads_by_name_position_and_as_dicts(platform: Platform) -> None:
    ids = _agents(platform, 5)
    pg = platform.engine.dialect.name == "postgresql"
    a = collection_agents.c
    statement = (
        select(a.id, a.name, a.skills, literal("agent").label("kind"), func.upper(a.name).label("big.name"))
        .where(among_named(pg, a.id, "ids"), a.role == "agent")  # a literal bound when built
        .order_by(a.id)
    )
    direct = Direct(statement)
    with platform.engine.connect() as conn:
        expected = [dict(r._mapping) for r in conn.execute(statement, {"ids": ids[1:4]})]
        rows = direct.rows(conn, {"ids": ids[1:4]})
        again = direct.rows(conn, {"ids": ids[:1]})  # compiled once, other values
        dicts = direct.mappings(conn, {"ids": ids[1:4]})
        assert direct.scalar(conn, {"ids": [ids[4]]}) == ids[4]
        assert direct.first(conn, {"ids": [-1]}) is None
    assert [r.id for r in rows] == ids[1:4] and [r[1] for r in rows] == ["Agent 1", "Agent 2", "Agent 3"]
    assert [r.skills for r in rows] == [["M1"]] * 3 and [r.kind for r in rows] == ["agent"] * 3
    assert [r.id for r in again] == ids[:1]
    assert dicts == expected and dicts[0]["big.name"] == "AGENT 1"


def test_a_json_parameter_is_sent_as_sqlalchemy_would_and_a_write_returns_no_rows(platform: Platform) -> None:
    k = idempotency_keys.c
    write = Direct(
        insert(idempotency_keys).values(
            scope=bindparam("scope"),
            key=bindparam("key"),
            request_hash="h",
            status_code=201,
            response=bindparam("response", type_=idempotency_keys.c.response.type),
            created_at=bindparam("now"),
        )
    )
    read = Direct(select(k.response).where(k.scope == bindparam("scope"), k.key == bindparam("key")))
    body = {"id": 7, "note": "茶", "items": [1, 2]}
    with platform.engine.begin() as conn:
        assert write.rows(conn, {"scope": "s", "key": "a", "response": body, "now": NOW}) == []
        assert read.scalar(conn, {"scope": "s", "key": "a"}) == body


def test_a_driver_error_is_sqlalchemys_and_changes_nothing(platform: Platform) -> None:
    ids = _agents(platform, 1)
    a = collection_agents.c
    duplicate = Direct(
        insert(collection_agents).values(
            id=bindparam("id"), name="x", role="agent", skills=[], active=1, created_at=bindparam("now")
        )
    )
    with pytest.raises(IntegrityError), platform.engine.begin() as conn:
        duplicate.rows(conn, {"id": ids[0], "now": NOW})
    with platform.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(collection_agents)).scalar() == 1
        assert conn.execute(select(a.name).where(a.id == ids[0])).scalar() == "Agent 0"


def test_the_engines_statement_listeners_see_each_statement(platform: Platform) -> None:
    seen: list[tuple[str, str]] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(("before", statement))

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(("after", statement))

    event.listen(platform.engine, "before_cursor_execute", before)
    event.listen(platform.engine, "after_cursor_execute", after)
    try:
        with platform.engine.connect() as conn:
            assert Direct(text("SELECT 1 AS one")).scalar(conn) == 1
    finally:
        event.remove(platform.engine, "before_cursor_execute", before)
        event.remove(platform.engine, "after_cursor_execute", after)
    assert [kind for kind, statement in seen if "SELECT 1" in statement.upper()] == ["before", "after"]


def test_a_deadlock_met_by_a_direct_statement_is_retried(pg_platform: Platform) -> None:
    """Two transactions lock two rows in opposite orders: PostgreSQL kills one (40P01); raised as
    SQLAlchemy's error, the transaction's retry runs it again, and both finish."""
    ids = _agents(pg_platform, 2)
    lock = Direct(
        select(collection_agents.c.id).where(collection_agents.c.id == bindparam("id")).with_for_update()
    )
    both = threading.Barrier(2)
    errors: list[BaseException] = []
    attempts: list[int] = []

    def work(first: int, second: int) -> None:
        def unit(conn: Any) -> None:
            attempts.append(first)
            lock.rows(conn, {"id": first})
            if len(attempts) <= 2:  # the first attempts meet at the barrier: a certain deadlock
                both.wait(10)
            conn.execute(text("SELECT pg_sleep(0.05)"))
            lock.rows(conn, {"id": second})

        try:
            in_transaction(pg_platform.engine, unit)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=p) for p in ((ids[0], ids[1]), (ids[1], ids[0]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(attempts) == 3  # one of the two ran again


def test_a_serialisation_failure_is_recognised_as_retryable(pg_platform: Platform) -> None:
    fail = Direct(text("DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40001'; END $$"))
    with pytest.raises(DBAPIError) as caught, pg_platform.engine.begin() as conn:
        fail.rows(conn)
    assert is_retryable(caught.value)


def test_a_write_on_a_connection_not_yet_begun_is_committed_by_its_commit(platform: Platform) -> None:
    """A Direct statement first on a connection begins SQLAlchemy's transaction, as any statement
    does: the connection's commit then commits it (and nothing is silently rolled back)."""
    write = Direct(
        insert(collection_agents).values(
            name="Late", role="agent", skills=[], active=1, created_at=bindparam("now")
        )
    )
    with platform.engine.connect() as conn:
        write.rows(conn, {"now": NOW})
        assert conn.in_transaction()
        conn.commit()
    with platform.engine.connect() as conn:
        names = conn.execute(select(collection_agents.c.name)).scalars().all()
    assert names == ["Late"]


def test_a_large_result_is_not_kept_by_the_connections_cursor(pg_platform: Platform) -> None:
    from bnpl.store.direct import KEEP_RESULTS_UNDER

    many = Direct(text("SELECT generate_series(1, :n) AS n"))
    with pg_platform.engine.connect() as conn:
        assert len(many.rows(conn, {"n": 10})) == 10
        kept = conn.connection.info["direct_cursor"]
        assert not kept.closed  # a small result: the cursor stays for the next statement
        assert len(many.rows(conn, {"n": KEEP_RESULTS_UNDER + 1})) == KEEP_RESULTS_UNDER + 1
        assert kept.closed  # its result went with it
        assert [r.n for r in many.rows(conn, {"n": 3})] == [1, 2, 3]  # a new cursor
        assert conn.connection.info["direct_cursor"] is not kept
