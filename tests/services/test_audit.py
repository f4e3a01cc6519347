"""The audit log: every state change is recorded, and an edit behind the application's back is caught."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError

from bnpl.runtime import ADMIN, Ctx, Platform
from bnpl.services import audit
from bnpl.store.tables import audit_log
from tests.world import World


def behind_the_back(platform: Platform, sql: str, **params: object) -> None:
    """What someone with database access could do: switch off the append-only guard, then edit."""
    with platform.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        conn.execute(text(sql), params)
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))


def test_the_audit_log_refuses_edits(platform: Platform) -> None:
    World.create(platform)
    for sql in ("UPDATE audit_log SET actor = 'admin'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), platform.engine.begin() as conn:
            conn.execute(text(sql))


def test_every_step_is_audited_with_actor_and_before_after(platform: Platform) -> None:
    w = World.create(platform)
    order_id = w.buy(("tea", 10_00, 1))
    w.repay(10_00)
    with platform.read() as c:
        rows = c.conn.execute(
            select(audit_log)
            .where(audit_log.c.stream == f"customer:{w.customer_id}")
            .order_by(audit_log.c.seq)
        ).all()
    assert [r.action for r in rows] == [
        "customer.created",
        "order.authorized",
        "order.captured",
        "order.delivered",
        "payment.received",
    ]
    captured = rows[2]
    assert captured.actor == f"merchant:{w.merchant_id}" and captured.entity_id == str(order_id)
    assert captured.before == {"status": "authorized"} and captured.after["status"] == "captured"
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert all(r.prev_hash == p.hash for p, r in itertools.pairwise(rows))


def test_verify_names_the_first_altered_record(platform: Platform) -> None:
    w = World.create(platform)
    w.buy(("tea", 10_00, 1))
    w.buy(("tea", 20_00, 1))
    with platform.read() as c:
        checked, broken = audit.verify(c.conn)
        assert broken == [] and checked >= 8
        target = c.conn.execute(
            select(audit_log.c.id, audit_log.c.seq)
            .where(audit_log.c.action == "order.captured")
            .order_by(audit_log.c.id)
            .limit(1)
        ).one()
    # an operator edits a record directly in the database
    behind_the_back(platform, "UPDATE audit_log SET actor = 'admin' WHERE id = :id", id=target.id)
    with platform.read() as c:
        _, broken = audit.verify(c.conn)
    assert [b.record_id for b in broken] == [target.id]
    assert "altered" in broken[0].problem


def test_verify_notices_a_deleted_record(platform: Platform) -> None:
    w = World.create(platform)
    w.buy(("tea", 10_00, 1))
    with platform.read() as c:
        victim = c.conn.execute(
            select(audit_log.c.id).where(audit_log.c.action == "order.authorized")
        ).scalar_one()
    behind_the_back(platform, "DELETE FROM audit_log WHERE id = :id", id=victim)
    with platform.read() as c:
        _, broken = audit.verify(c.conn)
    assert len(broken) == 1 and "removed" in broken[0].problem


def test_records_held_for_one_write_are_written_once_chained_in_order(platform: Platform) -> None:
    inserts: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "INSERT INTO" in statement and "audit_log" in statement:
            inserts.append(statement)

    def work(c: Ctx) -> None:
        with audit.one_write(c):
            audit.record_many(c, [("s:1", "a.one", "e", 1, None, {"n": 1})])
            audit.record(c, "s:2", "b.one", "e", 2)
            audit.record_many(c, [("s:1", "a.two", "e", 1, {"n": 1}, {"n": 2})])

    def failing(c: Ctx) -> None:
        with audit.one_write(c):
            audit.record(c, "s:3", "c.one", "e", 3)
            raise RuntimeError("the batch failed")

    event.listen(platform.engine, "before_cursor_execute", count)
    try:
        platform.run(ADMIN, work)
        with pytest.raises(RuntimeError):
            platform.run(ADMIN, failing)
        platform.run(ADMIN, lambda c: audit.record(c, "s:3", "c.two", "e", 3))  # nothing held over
    finally:
        event.remove(platform.engine, "before_cursor_execute", count)
    assert len(inserts) == 2  # the first unit's three records in one write, then the last record
    with platform.read() as c:
        rows = c.conn.execute(select(audit_log).order_by(audit_log.c.stream, audit_log.c.seq)).all()
        checked, broken = audit.verify(c.conn)
    assert [(r.stream, r.seq, r.action) for r in rows] == [
        ("s:1", 1, "a.one"),
        ("s:1", 2, "a.two"),
        ("s:2", 1, "b.one"),
        ("s:3", 1, "c.two"),
    ]
    assert checked == 4 and broken == []
