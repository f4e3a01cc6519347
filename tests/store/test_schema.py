"""The migrations build exactly the tables the code declares, and the database guards the ledger."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bnpl.runtime import Platform
from bnpl.store.tables import metadata
from tests.world import World


def test_migrations_match_the_declared_schema(platform: Platform) -> None:
    with platform.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_the_ledger_refuses_updates_and_deletes(platform: Platform) -> None:
    w = World.create(platform)
    w.buy(("tea", 10_00, 1))
    for statement in (
        "UPDATE ledger_lines SET amount = amount + 1",
        "DELETE FROM ledger_lines",
        "UPDATE journal_entries SET memo = 'x'",
        "DELETE FROM journal_entries",
    ):
        with pytest.raises(DBAPIError, match="append-only"), platform.engine.begin() as conn:
            conn.execute(text(statement))
    w.ledger_ok()


def test_postgres_refuses_an_unbalanced_entry_at_commit(pg_platform: Platform) -> None:
    with pytest.raises(DBAPIError, match="does not balance"), pg_platform.engine.begin() as conn:
        entry = conn.execute(
            text(
                "INSERT INTO journal_entries (kind, business_date, memo, created_at) "
                "VALUES ('manual', '2026-01-01', '', now()) RETURNING id"
            )
        ).scalar_one()
        conn.execute(
            text("INSERT INTO ledger_lines (entry_id, account, amount) VALUES (:e, 'cash', 100)"),
            {"e": entry},
        )


def test_postgres_refuses_a_line_added_to_an_old_entry(pg_platform: Platform) -> None:
    w = World.create(pg_platform)
    w.buy(("tea", 10_00, 1))
    with pytest.raises(DBAPIError, match="never added"), pg_platform.engine.begin() as conn:
        conn.execute(text("INSERT INTO ledger_lines (entry_id, account, amount) VALUES (1, 'cash', 0)"))


def test_what_is_owed_now_reads_the_open_obligations_index(platform: Platform) -> None:
    """The dashboard sums the open obligations on every load: the partial index of open obligations
    with their amounts serves it (on PostgreSQL an index-only scan when sequential scans are off, as
    the planner prefers them on a table this small)."""
    from bnpl.services.queries import OUTSTANDING_NOW

    w = World.create(platform)
    w.buy(("tea", 10_00, 1))
    with platform.engine.connect() as conn:
        sql = str(OUTSTANDING_NOW.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(r[0] for r in conn.execute(text(f"EXPLAIN {sql}")))
        else:
            plan = " ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
    assert "ix_obligations_open" in plan, plan
