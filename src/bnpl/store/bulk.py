"""Bulk writes for the set-based jobs (end of day): on PostgreSQL through COPY, with ids drawn from
the table's sequence when the caller needs them; on SQLite an ordinary executemany.

A checkout writes a handful of rows and never comes here. End of day writes tens of thousands at
a time (contact attempts, late-fee obligations, ledger lines, audit records), where a multi-row
INSERT … RETURNING spends most of its time building and parsing statements: COPY is several times
faster, inside the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import JSON, BigInteger, String, Table, any_, bindparam, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

COPY_FROM = 500  # below this many rows an INSERT is as fast, and simpler to read in a trace


def _pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def next_ids(conn: Connection, table: Table, n: int) -> list[int]:
    """``n`` fresh ids for ``table``'s primary key, in increasing order (PostgreSQL)."""
    rows = conn.execute(
        text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
        {"t": table.name, "n": n},
    ).scalars()
    return sorted(int(i) for i in rows)


def insert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    ids: bool = False,
    copy_from: int = COPY_FROM,
) -> list[int]:
    """Insert ``rows`` (dicts with the same keys); with ``ids``, return their new ids in order.
    ``copy_from``: from how many rows COPY is used on PostgreSQL (a batch of checkouts: from 2, as
    its wide rows make a multi-row INSERT's parameters cost more than COPY's set-up)."""
    if not rows:
        return []
    if not _pg(conn) or len(rows) < copy_from:
        if not ids:
            conn.execute(insert(table), list(rows))
            return []
        return list(
            conn.execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True), list(rows)
            ).scalars()
        )
    new_ids = next_ids(conn, table, len(rows)) if ids else []
    data = list(rows[0])
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    names = ", ".join(f'"{c}"' for c in (["id", *data] if ids else data))
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for i, row in enumerate(rows):
            values = [Json(row[c]) if c in json_columns and row[c] is not None else row[c] for c in data]
            copy.write_row([new_ids[i], *values] if ids else values)
    return new_ids


def among(conn: Connection, column: Any, ids: Sequence[Any]) -> Any:
    """``column`` is one of ``ids``: one array parameter on PostgreSQL, an IN list on SQLite."""
    if _pg(conn):
        kind = String if ids and isinstance(ids[0], str) else BigInteger
        return column == any_(bindparam(None, list(ids), type_=ARRAY(kind)))
    return column.in_(list(ids))


def among_named(pg: bool, column: Any, name: str) -> Any:
    """``column`` is one of the list given as parameter ``name`` at execution: for statements
    built once (PostgreSQL: one bigint array; elsewhere an expanding IN list)."""
    if pg:
        return column == any_(bindparam(name, type_=ARRAY(BigInteger)))
    return column.in_(bindparam(name, expanding=True))


def chunks(conn: Connection, ids: Sequence[Any], size: int = 5_000) -> list[Sequence[Any]]:
    """``ids`` in pieces an IN list can take (SQLite); PostgreSQL takes them all as one array."""
    if _pg(conn):
        return [ids] if ids else []
    return [ids[i : i + size] for i in range(0, len(ids), size)]
