"""Bulk writes (COPY on PostgreSQL, executemany on SQLite): the same rows and ids either way."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bnpl.runtime import Platform
from bnpl.store.bulk import COPY_FROM, among, chunks, insert_rows
from bnpl.store.tables import collection_agents


def test_bulk_rows_come_back_as_written_with_their_ids_in_order(platform: Platform) -> None:
    now = datetime(2026, 3, 2, 10, tzinfo=UTC)
    n = COPY_FROM + 7  # past the threshold: PostgreSQL takes the COPY path
    rows = [
        {
            "name": f"Agent {i}",
            "role": "agent",
            "skills": ["M1", "M2"][: i % 3],
            "active": 1,
            "created_at": now,
        }
        for i in range(n)
    ]
    with platform.engine.begin() as conn:
        ids = insert_rows(conn, collection_agents, rows, ids=True)
        few = insert_rows(conn, collection_agents, rows[:3], ids=True)  # the INSERT path
    assert len(ids) == n and ids == sorted(ids) and len(set(ids) | set(few)) == n + 3
    with platform.engine.connect() as conn:
        stored = {r.id: r for r in conn.execute(select(collection_agents))}
        picked = [
            r.id
            for r in conn.execute(
                select(collection_agents.c.id).where(among(conn, collection_agents.c.id, ids[:10]))
            )
        ]
        assert sum(len(c) for c in chunks(conn, ids)) == n
    for i, new_id in enumerate(ids):
        assert (stored[new_id].name, list(stored[new_id].skills)) == (f"Agent {i}", ["M1", "M2"][: i % 3])
    assert sorted(picked) == ids[:10]
