"""A batch's idempotency statements stay per-key lookups on PostgreSQL, whatever the statistics say.

A live-stream merchant's keys all share one scope. With statistics taken when the table was small
(a new merchant, a fresh install, a restore), PostgreSQL planned the batch's answer update as a
scan of every key of the scope, so each batch of a sale cost more than the one before it."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg.types.json import Json
from sqlalchemy import text

from bnpl.runtime import ADMIN, Platform
from bnpl.services import idempotency

SCOPE = "merchant:1"


@pytest.fixture
def stale(pg_platform: Platform) -> Platform:
    """The table analysed empty, then a burst of one scope's keys the statistics never saw."""
    with pg_platform.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE idempotency_keys")
        conn.execute(
            text(
                "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response, created_at) "
                "SELECT :scope, 'old-' || g, 'h', 201, '{}', now() FROM generate_series(1, 3000) AS g"
            ),
            {"scope": SCOPE},
        )
    return pg_platform


def _plan(conn: Any, statement: Any, params: dict[str, Any], generic: bool) -> str:
    conn.exec_driver_sql(f"SET LOCAL plan_cache_mode = {'force_generic_plan' if generic else 'auto'}")
    sql = getattr(statement, "element", statement).text  # a TextualSelect wraps its text
    return "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + sql), params))


@pytest.mark.parametrize("generic", [False, True])
def test_answers_are_written_to_the_claimed_rows_without_reading_the_scope(
    stale: Platform, generic: bool
) -> None:
    fingerprints = {f"new-{i}": f"fp-{i}" for i in range(5)}

    def work(c: Any) -> str:
        claimed = idempotency.claim_many(c, SCOPE, fingerprints)
        assert set(claimed) == set(fingerprints)
        answers = {k: [201, {"id": n}] for n, k in enumerate(sorted(claimed))}
        params = {"answers": Json(answers), "rows": [claimed[k] for k in answers]}
        plan = _plan(c.conn, idempotency.STORE_MANY_PG, params, generic)
        idempotency.store_many(c, SCOPE, [(k, code, body) for k, (code, body) in answers.items()], claimed)
        return plan

    plan = stale.run(ADMIN, work)
    assert "Tid Scan on idempotency_keys" in plan, plan
    assert "Seq Scan on idempotency_keys" not in plan and "Bitmap" not in plan, plan
    with stale.read() as c:  # and the answers are where a replay finds them
        for n, key in enumerate(sorted(fingerprints)):
            stored = idempotency.lookup(c, SCOPE, key, fingerprints[key])
            assert stored is not None and (stored.status_code, stored.response) == (201, {"id": n})


@pytest.mark.parametrize("generic", [False, True])
def test_replayed_keys_are_read_by_their_own_primary_key(stale: Platform, generic: bool) -> None:
    keys = ["old-7", "old-2999", "never-seen"]

    def work(c: Any) -> tuple[str, dict[str, Any]]:
        plan = _plan(c.conn, idempotency.STORED_MANY_PG, {"scope": SCOPE, "keys": keys}, generic)
        return plan, idempotency.stored_many(c, SCOPE, keys)

    plan, stored = stale.run(ADMIN, work)
    assert "Index Scan using pk_idempotency_keys" in plan, plan
    assert "Seq Scan on idempotency_keys" not in plan and "Bitmap" not in plan, plan
    assert sorted(stored) == ["old-2999", "old-7"]
    assert stored["old-7"].request_hash == "h" and stored["old-7"].status_code == 201
