"""Shardable by customer (docs/scale-out.md): authorize, capture, repay and return — single and
batched — write and lock one customer's rows plus merchant reference data, never a second
customer's. Every statement is recorded (SQLAlchemy's cursor events): each row written to a
customer-keyed table carries the acting customer's id, and on PostgreSQL another connection can
lock the other customer's rows (NOWAIT) while the use case's transaction is still open."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from psycopg.types.json import Json
from sqlalchemy import event, select, text

from bnpl.domain.orders import Item
from bnpl.runtime import ADMIN, Actor, Ctx, Platform
from bnpl.services import orders, parties, repayments
from bnpl.store.tables import metadata

# tables whose rows belong to one customer: they carry the distribution column
CUSTOMER_KEYED = sorted(t.name for t in metadata.sorted_tables if "customer_id" in t.columns)


@contextmanager
def recorded(platform: Platform) -> Iterator[list[tuple[str, list[dict[str, Any]]]]]:
    """Every INSERT and UPDATE the engine sends: its table and its parameter sets, by bind name;
    those sent straight to the driver (``store.direct``: rows as one JSON parameter, or updates
    over arrays) row by row too. (Rows written by COPY on PostgreSQL, from 500 at once, pass
    beside the engine: the snapshot of the other customer's rows covers them.)"""
    writes: list[tuple[str, list[dict[str, Any]]]] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if context is None:  # a statement sent straight to the driver
            direct = _direct_write(statement, parameters)
            if direct is not None:
                writes.append(direct)
            return
        compiled = getattr(context, "compiled", None)
        if compiled is None or not (context.isinsert or context.isupdate):
            return
        writes.append((compiled.statement.table.name, list(context.compiled_parameters)))

    event.listen(platform.engine, "before_cursor_execute", before)
    try:
        yield writes
    finally:
        event.remove(platform.engine, "before_cursor_execute", before)


def _direct_write(statement: str, parameters: Any) -> tuple[str, list[dict[str, Any]]] | None:
    """A write sent straight to the driver as its table and parameter sets: the rows of an
    ``INSERT … json_populate_recordset``, or an ``UPDATE … unnest`` row by row (its arrays zipped)."""
    words = statement.replace('"', "").split()
    if words[:2] == ["INSERT", "INTO"]:
        (rows,) = [p.obj for p in parameters if isinstance(p, Json)] or [None]
        return (words[2], list(rows)) if rows is not None else None
    if words[0] == "UPDATE":
        # one array per column: the customers' ids are ``cids``, one ``cid`` a row
        arrays = {("cid" if k == "cids" else k): v for k, v in parameters.items() if isinstance(v, list)}
        count = len(next(iter(arrays.values()))) if arrays else 0
        return words[1], [{k: v[n] for k, v in arrays.items()} for n in range(count)]
    return None


def written_customers(
    writes: list[tuple[str, list[dict[str, Any]]]], owner: Callable[[str, int], int | None]
) -> set[int]:
    """The customer of every row inserted into, or updated in, a customer-keyed table, as the
    statements' own parameters name it, or through the row they name: an order or a bill updated
    by id is its customer's (``owner``). The merchant, income and cash legs of a journal entry
    have no customer_id: they go with the entry, to the shard of the customer its other legs name
    (docs/scale-out.md). A row that names no customer at all counts as -1 (a failure)."""
    ids: set[int] = set()
    entries: dict[int, set[int]] = {}
    for table, param_sets in writes:
        if table not in CUSTOMER_KEYED:
            continue
        for params in param_sets:
            named = [params[n] for n in ("customer_id", "cid") if params.get(n) is not None]
            if not named and params.get("order_id") is not None:
                named = [owner("orders", int(params["order_id"]))]
            by_id = [v for k, v in params.items() if k in ("b_id", "oid") or k.startswith("id_1")]
            if not named and by_id and table in ("orders", "obligations"):
                named = [owner(table, int(v)) for v in by_id]
            if table == "ledger_lines":
                entry = entries.setdefault(int(params["entry_id"]), set())
                entry.update(int(v) for v in named if v is not None)
                continue
            ids.update(int(v) if v is not None else -1 for v in named or [None])
    for customers in entries.values():
        ids.update(customers or {-1})
    return ids


def _world(platform: Platform) -> tuple[int, int, int, int]:
    """A merchant, and two customers each with a captured, delivered order."""
    merchant = platform.run(ADMIN, lambda c: parties.create_merchant(c, "M", 100, 7, 2, ["tea"]))["id"]
    a, b = (platform.run(ADMIN, lambda c: parties.create_customer(c, "C", 5000_00))["id"] for _ in range(2))
    actor = Actor("merchant", merchant)
    ids = []
    for cid in (a, b):
        cmd = orders.AuthorizeCommand(merchant, cid, [Item("x", "tea", 300_00, 2)], "m3")
        oid = platform.run(actor, lambda c, cmd=cmd: orders.authorize(c, cmd))["id"]
        platform.run(actor, lambda c, oid=oid: orders.capture(c, oid))
        platform.run(Actor("customer", cid), lambda c, oid=oid: orders.deliver(c, oid))
        ids.append(oid)
    return merchant, a, b, ids[0]


def _snapshot(platform: Platform, customer_id: int) -> dict[str, list[Any]]:
    """Every row of a customer, table by table (the customer's audit stream among them)."""
    with platform.read(ADMIN) as c:
        rows = {
            name: sorted(
                (
                    tuple(map(str, r))
                    for r in c.conn.execute(
                        select(metadata.tables[name]).where(
                            metadata.tables[name].c.customer_id == customer_id
                        )
                    )
                ),
            )
            for name in CUSTOMER_KEYED
        }
        audit = metadata.tables["audit_log"]
        rows["audit_log"] = sorted(
            tuple(map(str, r))
            for r in c.conn.execute(select(audit).where(audit.c.stream == f"customer:{customer_id}"))
        )
    return rows


def _use_cases(merchant: int, a: int, order_id: int) -> list[tuple[str, Actor, Callable[[Ctx], Any]]]:
    m = Actor("merchant", merchant)
    cmd = orders.AuthorizeCommand(merchant, a, [Item("y", "tea", 50_00, 1)])
    return [
        ("authorize", m, lambda c: orders.authorize(c, cmd)),
        ("authorize_many", m, lambda c: orders.authorize_many(c, [cmd, cmd])),
        ("repay", Actor("customer", a), lambda c: repayments.repay(c, a, 100_00)),
        ("return", Actor("customer", a), lambda c: orders.request_return(c, order_id, {"x": 1})),
    ]


def test_each_use_case_writes_one_customers_rows(platform: Platform) -> None:
    merchant, a, b, order_id = _world(platform)
    before_b = _snapshot(platform, b)
    m = Actor("merchant", merchant)
    cases = _use_cases(merchant, a, order_id)

    def owner(table: str, row_id: int) -> int | None:
        t = metadata.tables[table]
        with platform.read(ADMIN) as c:
            return c.conn.execute(select(t.c.customer_id).where(t.c.id == row_id)).scalar()

    for name, actor, work in cases:
        with recorded(platform) as statements:
            result = platform.run(actor, work)
        assert written_customers(statements, owner) == {a}, name
        if name.startswith("authorize"):  # and capture what was authorized, single and batched
            ids = [r["id"] for r in (result if isinstance(result, list) else [result])]
            with recorded(platform) as statements:
                if len(ids) == 1:
                    platform.run(m, lambda c, oid=ids[0]: orders.capture(c, oid))
                else:
                    platform.run(m, lambda c, ids=ids: orders.capture_many(c, ids))
            assert written_customers(statements, owner) == {a}, f"capture after {name}"
    assert _snapshot(platform, b) == before_b


@pytest.mark.parametrize("case", ["authorize", "authorize_many", "repay", "return", "capture"])
def test_no_use_case_locks_another_customers_rows(pg_platform: Platform, case: str) -> None:
    """While the use case's transaction is open, another connection locks the second customer's
    account, orders and bills at once (NOWAIT): nothing of theirs was locked."""
    platform = pg_platform
    merchant, a, b, order_id = _world(platform)
    if case == "capture":
        cmd = orders.AuthorizeCommand(merchant, a, [Item("z", "tea", 20_00, 1)])
        fresh = platform.run(Actor("merchant", merchant), lambda c: orders.authorize(c, cmd))["id"]
        actor, work = Actor("merchant", merchant), (lambda c: orders.capture(c, fresh))
    else:
        _, actor, work = next(u for u in _use_cases(merchant, a, order_id) if u[0] == case)
    probed: list[bool] = []

    def work_then_probe(c: Ctx) -> Any:
        result = work(c)
        with platform.engine.connect() as other:
            for table in ("credit_accounts", "orders", "obligations"):
                other.execute(
                    text(f"SELECT 1 FROM {table} WHERE customer_id = :b FOR UPDATE NOWAIT"), {"b": b}
                )
            other.rollback()
        probed.append(True)
        return result

    platform.run(actor, work_then_probe)
    assert probed == [True]
