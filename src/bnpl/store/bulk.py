"""Bulk writes: on PostgreSQL a batch of rows is one statement (COPY from ``COPY_FROM`` rows, with
one more for their ids); on SQLite an ordinary executemany.

Up to ``COPY_FROM`` rows (a batch of checkouts or captures: a handful of each kind) go as one JSON
parameter, unpacked by ``json_populate_recordset`` into the table's own row type: one round trip,
ids and all, one parameter to encode (by orjson) however wide the rows, and the same statement
text for every batch of a table, so the server prepares it once. A multi-row INSERT spent most of
its time building and binding parameters, and COPY costs three round trips (ids from the sequence,
then COPY's start and its end). From ``COPY_FROM`` rows (end of day: tens of thousands of contact
attempts, late-fee obligations, ledger lines and audit records) COPY is faster, inside the same
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
from psycopg.types.json import Json
from sqlalchemy import JSON, BigInteger, String, Table, any_, bindparam, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from bnpl.store.direct import execute

COPY_FROM = 500  # from this many rows COPY's set-up pays for itself (measured on end of day)


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
    ``copy_from``: from how many rows COPY is used on PostgreSQL."""
    if not rows:
        return []
    if not _pg(conn):
        if not ids:
            conn.execute(insert(table), list(rows))
            return []
        return list(
            conn.execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True), list(rows)
            ).scalars()
        )
    data = list(rows[0])
    if any(row.keys() != rows[0].keys() for row in rows):  # a missing key must not become NULL
        raise ValueError(f"rows for {table.name} do not all have the same columns")
    if len(rows) < copy_from:
        names = ", ".join(f'"{c}"' for c in data)
        picked = ", ".join(f'r."{c}"' for c in data)
        # the rows in their given order, so the sequence numbers them in that order too
        statement = (
            f'INSERT INTO "{table.name}" ({names}) SELECT {picked} '
            f'FROM json_populate_recordset(NULL::"{table.name}", %s::json) WITH ORDINALITY AS r '
            "ORDER BY r.ordinality" + (" RETURNING id" if ids else "")
        )
        # a failure is a DBAPIError, which a transaction's retry recognises
        result = execute(conn, statement, (Json(rows, dumps=_row_json),))
        return sorted(int(r[0]) for r in result) if ids else []
    raw = conn.connection.driver_connection
    assert raw is not None
    new_ids = next_ids(conn, table, len(rows)) if ids else []
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    names = ", ".join(f'"{c}"' for c in (["id", *data] if ids else data))
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for i, row in enumerate(rows):
            values = [Json(row[c]) if c in json_columns and row[c] is not None else row[c] for c in data]
            copy.write_row([new_ids[i], *values] if ids else values)
    return new_ids


def _row_json(rows: Any) -> bytes:
    """Rows as one JSON document for ``json_populate_recordset``: each value in the text its
    column's type reads (a Decimal as its digits, bytes in bytea's hex form; inside a JSON column
    the same, as their text)."""
    return orjson.dumps(rows, default=_plain, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def _plain(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    raise TypeError(f"{type(value).__name__} cannot be written by insert_rows")


def among(conn: Connection, column: Any, ids: Sequence[Any]) -> Any:
    """``column`` is one of ``ids``: one array parameter on PostgreSQL, an IN list on SQLite."""
    if _pg(conn):
        kind = String if ids and isinstance(ids[0], str) else BigInteger
        return column == any_(bindparam(None, list(ids), type_=ARRAY(kind)))
    return column.in_(list(ids))


def among_named(pg: bool, column: Any, name: str, kind: Any = BigInteger) -> Any:
    """``column`` is one of the list given as parameter ``name`` at execution: for statements
    built once (PostgreSQL: one array of ``kind``; elsewhere an expanding IN list)."""
    if pg:
        return column == any_(bindparam(name, type_=ARRAY(kind)))
    return column.in_(bindparam(name, expanding=True))


def chunks(conn: Connection, ids: Sequence[Any], size: int = 5_000) -> list[Sequence[Any]]:
    """``ids`` in pieces an IN list can take (SQLite); PostgreSQL takes them all as one array."""
    if _pg(conn):
        return [ids] if ids else []
    return [ids[i : i + size] for i in range(0, len(ids), size)]
