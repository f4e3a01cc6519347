"""Statements built once and sent straight to the driver: the checkout batch's hot statements.

A checkout batch runs about 25 statements a transaction. Through ``Connection.execute`` each paid
SQLAlchemy's work per execution: a cache key for the statement, an execution context, the
result's metadata: 80-170 µs of Python, against 60-70 µs for psycopg alone (measured here), half
a batch's Python in all. A ``Direct`` statement is still written once, with SQLAlchemy, for every
database: on PostgreSQL it is compiled once, then each execution goes to the psycopg connection
under the transaction (prepared on the server); elsewhere it runs through SQLAlchemy as any
statement does. Rows come back as psycopg's named tuples or SQLAlchemy's rows: read them by
attribute, by position or with ``_asdict()``, which both have.

A driver error is raised as SQLAlchemy's ``DBAPIError`` (as ``Connection.execute`` would), so a
transaction's retry of serialisation failures and deadlocks sees it; the engine's
``before_cursor_execute`` and ``after_cursor_execute`` listeners see each statement (with no
execution context), so tracing and the tests that watch statements still do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import psycopg
from psycopg.rows import dict_row, namedtuple_row
from sqlalchemy.engine import Connection, CursorResult, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

KEEP_RESULTS_UNDER = 1_000  # rows: a larger result is not held by the connection's cursor


class _Compiled(NamedTuple):
    sql: str
    defaults: dict[str, Any]  # the values bound when the statement was built (literals in it)
    processors: dict[str, Any]  # how SQLAlchemy turns a value into the driver's (a JSON column's)


class Direct:
    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: _Compiled | None = None

    def rows(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        """The statement's rows (none for a statement that returns none)."""
        return self._run(conn, params or {}, dicts=False)

    def mappings(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The statement's rows as dicts, keyed by the columns' names as written (``a.b`` too)."""
        return self._run(conn, params or {}, dicts=True)

    def _run(self, conn: Connection, params: Mapping[str, Any], dicts: bool) -> list[Any]:
        if not direct(conn):
            return _rows_of(conn.execute(self.statement, dict(params)), dicts)  # type: ignore[call-overload]
        compiled = self._compiled or self._compile(conn.dialect)
        values = compiled.defaults | dict(params)
        for name, process in compiled.processors.items():  # None too: a JSON None is 'null'
            if name in values:
                values[name] = process(values[name])
        return execute(conn, compiled.sql, values, dicts)

    def first(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        rows = self.rows(conn, params)
        return rows[0] if rows else None

    def scalar(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        row = self.first(conn, params)
        return None if row is None else row[0]

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        if compiled.positiontup or compiled.literal_execute_params:
            raise ValueError("a Direct statement needs named parameters, none expanded at execution")
        processors = {
            key: process for key, process in compiled._bind_processors.items() if process is not None
        }
        # the values given when it was built; a parameter left to the caller is absent
        defaults = {
            k: v
            for k, v in compiled.construct_params(_check=False).items()
            if not (k in compiled.binds and compiled.binds[k].required)
        }
        self._compiled = _Compiled(compiled.string, defaults, processors)
        return self._compiled


def direct(conn: Connection) -> bool:
    """Whether ``conn``'s statements can go straight to its driver (PostgreSQL through psycopg)."""
    return conn.dialect.driver == "psycopg"


def execute(
    conn: Connection, sql: str, params: Sequence[Any] | Mapping[str, Any], dicts: bool = False
) -> list[Any]:
    """Run ``sql`` (psycopg's placeholders) on ``conn``'s PostgreSQL connection, in its transaction,
    prepared on the server; its rows as named tuples, or dicts (none for a statement that returns
    none). Through SQLAlchemy when the driver is not psycopg."""
    if not direct(conn):
        return _rows_of(conn.exec_driver_sql(sql, params), dicts)
    if not conn.in_transaction():  # begun as SQLAlchemy would, so its commit commits this too
        conn.begin()
    cursor = _cursor(conn, dicts)
    dispatch = conn.dispatch
    if dispatch.before_cursor_execute:  # what watches the engine's statements sees these too
        dispatch.before_cursor_execute(conn, cursor, sql, params, None, False)
    try:
        cursor.execute(sql, params, prepare=True)
        result = cursor.pgresult
        rows = cursor.fetchall() if result is not None and result.nfields else []
    except BaseException as exc:
        # as SQLAlchemy handles its own: a DBAPIError (the retry of 40001/40P01 sees it), a lost
        # connection invalidated, the engine's handle_error listeners told
        conn._handle_dbapi_exception(exc, sql, params, cursor, None)  # type: ignore[arg-type]
        raise
    if dispatch.after_cursor_execute:
        dispatch.after_cursor_execute(conn, cursor, sql, params, None, False)
    if len(rows) > KEEP_RESULTS_UNDER:  # a cursor kept for the connection keeps its last result
        cursor.close()
    return rows


def _rows_of(result: CursorResult[Any], dicts: bool) -> list[Any]:
    """A result through SQLAlchemy as ``Direct`` gives its rows (SQLAlchemy's rows, or dicts)."""
    if not result.returns_rows:
        return []
    return [dict(m) for m in result.mappings()] if dicts else list(result)


def _cursor(conn: Connection, dicts: bool) -> psycopg.Cursor[Any]:
    """The psycopg connection's cursor for these statements, of each kind of row: one for the life
    of the connection (a new cursor a statement cost 30 µs)."""
    record = conn.connection
    driver = record.driver_connection
    name = "direct_dict_cursor" if dicts else "direct_cursor"
    cursor = record.info.get(name)
    if cursor is None or cursor.closed or cursor.connection is not driver:
        assert isinstance(driver, psycopg.Connection)
        cursor = record.info[name] = driver.cursor(row_factory=dict_row if dicts else namedtuple_row)
    return cursor
