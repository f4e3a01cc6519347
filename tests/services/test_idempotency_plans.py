"""A batch's idempotency keys: read by per-key lookups on PostgreSQL whatever the statistics say,
kept at the end in one statement, and a key kept first by another transaction replayed.

A live-stream merchant's keys all share one scope. With statistics taken when the table was small
(a new merchant, a fresh install, a restore), PostgreSQL planned a batch's key statements as a
scan of every key of the scope, so each batch of a sale cost more than the one before it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import text

from bnpl.domain.orders import Item
from bnpl.runtime import ADMIN, Actor, Platform
from bnpl.services import idempotency, orders
from tests.world import World

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


@pytest.mark.parametrize("generic", [False, True])
def test_keys_seen_before_are_read_by_their_own_primary_key(stale: Platform, generic: bool) -> None:
    keys = ["old-7", "old-2999", "never-seen"]

    def work(c: Any) -> tuple[str, dict[str, Any]]:
        mode = "force_generic_plan" if generic else "auto"  # as a prepared statement runs it
        c.conn.exec_driver_sql(f"SET LOCAL plan_cache_mode = {mode}")
        sql = "EXPLAIN " + idempotency.STORED_MANY_PG.statement.text
        plan = "\n".join(r[0] for r in c.conn.execute(text(sql), {"scope": SCOPE, "keys": keys}))
        return plan, idempotency.stored_many(c, SCOPE, keys)

    plan, stored = stale.run(ADMIN, work)
    assert "Index Scan using pk_idempotency_keys" in plan, plan
    assert "Seq Scan on idempotency_keys" not in plan and "Bitmap" not in plan, plan
    assert sorted(stored) == ["old-2999", "old-7"]
    assert stored["old-7"].request_hash == "h" and stored["old-7"].status_code == 201


def test_answers_kept_are_what_a_replay_gets_and_a_kept_key_is_not_kept_twice(platform: Platform) -> None:
    answers = [(f"new-{i}", f"fp-{i}", 201, {"id": i, "note": "茶"}) for i in range(5)]
    kept = platform.run(ADMIN, lambda c: idempotency.keep_many(c, SCOPE, answers))
    assert kept == {k for k, *_ in answers}
    again = [("new-2", "fp-2", 409, {}), ("new-9", "fp-9", 201, {"id": 9})]
    assert platform.run(ADMIN, lambda c: idempotency.keep_many(c, SCOPE, again)) == {"new-9"}
    with platform.read() as c:
        for key, fingerprint, code, body in answers:
            stored = idempotency.lookup(c, SCOPE, key, fingerprint)
            assert stored is not None and (stored.status_code, stored.response) == (code, body)


def test_a_key_kept_first_by_another_transaction_is_replayed_not_decided_twice(pg_platform: Platform) -> None:
    """The same checkout in two batches at once: the second batch waits for the first's account
    lock, decides again, finds its key kept when it keeps its answers, and runs again: it then
    replays the first answer, and the customer holds one checkout's amount, not two."""
    w = World.create(pg_platform, limit=100_00)
    merchant = Actor("merchant", w.merchant_id)
    request = orders.Keyed(
        "twice",
        "fp-twice",
        orders.AuthorizeCommand(w.merchant_id, w.customer_id, [Item("x", "tea", 60_00, 1)]),
    )
    other = w.new_customer(100_00)
    company = orders.Keyed(
        "company", "fp-company", orders.AuthorizeCommand(w.merchant_id, other, [Item("x", "tea", 10_00, 1)])
    )
    inside = threading.Event()
    go_on = threading.Event()
    attempts = []

    def slow(ctx: Any, cmds: list[Any]) -> list[Any]:
        results = orders.authorize_many(ctx, cmds)
        if not inside.is_set():  # the first batch holds its locks until the second has started
            inside.set()
            go_on.wait(10)
        return results

    def batch(requests: list[orders.Keyed]) -> list[orders.Answer]:
        def unit(c: Any) -> list[orders.Answer]:
            attempts.append(len(requests))
            return orders.run_keyed(c, str(merchant), requests, slow, 201, lambda e: (e.status, {}))

        return pg_platform.run(merchant, unit)

    first: list[orders.Answer] = []
    thread = threading.Thread(target=lambda: first.extend(batch([request])))
    thread.start()
    assert inside.wait(10)
    timer = threading.Timer(0.3, go_on.set)  # the second batch is blocked on the account by then
    timer.start()
    second = batch([company, request])
    thread.join(10)
    timer.join()

    assert first[0].status_code == 201 and not first[0].replayed
    assert second[1].replayed and second[1].body == first[0].body
    assert second[0].status_code == 201 and second[0].body["status"] == "authorized"
    assert attempts == [1, 2, 2]  # the second batch ran twice
    assert w.account()["holds"] == 60_00
