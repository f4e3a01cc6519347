"""Append-only audit log, hash-chained per stream.

Each record carries the hash of the record before it in its stream (a customer, a merchant, or
the platform), so one checkout never waits on a global chain: the customer's stream is already
serialised by the lock on the customer's account. ``verify`` recomputes every chain and names the
first record whose content no longer matches its hash.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import String, func, select
from sqlalchemy.engine import Connection

from bnpl.runtime import Ctx
from bnpl.store.bulk import COPY_FROM, among_named, chunks, insert_rows
from bnpl.store.direct import Direct
from bnpl.store.tables import audit_log

GENESIS = "0" * 64


def _digest(record: dict[str, Any]) -> str:
    fields = {
        k: record[k]
        for k in (
            "stream",
            "seq",
            "at",
            "business_date",
            "actor",
            "action",
            "entity",
            "entity_id",
            "before",
            "after",
            "prev_hash",
        )
    }
    for key in ("at", "business_date"):
        value = fields[key]
        # one canonical form: naive UTC (SQLite hands back naive UTC; PostgreSQL an aware
        # timestamp in the session's time zone)
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        if isinstance(value, (date, datetime)):
            fields[key] = value.isoformat()
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


def record(
    ctx: Ctx,
    stream: str,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one record. The caller holds the lock that serialises ``stream``."""
    record_many(ctx, [(stream, action, entity, entity_id, before, after)])


def _chained(
    ctx: Ctx,
    head: tuple[int, str],
    stream: str,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> dict[str, Any]:
    """The record that follows ``head`` (its seq and hash) in ``stream``, with its own hash."""
    rec: dict[str, Any] = {
        "stream": stream,
        "seq": head[0] + 1,
        "at": ctx.now,
        "business_date": ctx.today,
        "actor": str(ctx.actor),
        "action": action,
        "entity": entity,
        "entity_id": str(entity_id),
        "before": before,
        "after": after,
        "prev_hash": head[1],
    }
    rec["hash"] = _digest(rec)
    return rec


@functools.cache
def _heads(pg: bool) -> Direct:
    """The last record (seq and hash) of each stream of ``streams``, built once per dialect."""
    latest = (
        select(audit_log.c.stream, func.max(audit_log.c.seq).label("seq"))
        .where(among_named(pg, audit_log.c.stream, "streams", String))
        .group_by(audit_log.c.stream)
        .subquery()
    )
    return Direct(
        select(audit_log.c.stream, audit_log.c.seq, audit_log.c.hash).join(
            latest, (latest.c.stream == audit_log.c.stream) & (latest.c.seq == audit_log.c.seq)
        )
    )


Record = tuple[str, str, str, object, dict[str, Any] | None, dict[str, Any] | None]
_PENDING = "bnpl.audit.pending"  # the connection's records held for one write (``one_write``)


@contextmanager
def one_write(ctx: Ctx) -> Iterator[None]:
    """The records appended inside, written together when it ends: one look-up of the streams'
    heads and one insert (a batch of captures and checkouts: one of each, not one a kind). Nothing
    inside may read the audit log; on an error the records are dropped with the transaction."""
    info = ctx.conn.info
    if _PENDING in info:  # already inside one: its end writes these too
        yield
        return
    pending: list[Record] = []
    info[_PENDING] = pending
    try:
        yield
    finally:
        info.pop(_PENDING, None)
    record_many(ctx, pending)


def record_many(ctx: Ctx, records: Sequence[Record], copy_from: int = COPY_FROM) -> None:
    """Append many records at once (end of day, a batch): ``(stream, action, entity, entity_id,
    before, after)`` each, chained onto the head of its stream. The caller holds what serialises
    them."""
    if not records:
        return
    pending = ctx.conn.info.get(_PENDING)
    if pending is not None:  # inside ``one_write``: written at its end
        pending.extend(records)
        return
    heads: dict[str, tuple[int, str]] = {}
    streams = sorted({r[0] for r in records})
    query = _heads(ctx.conn.dialect.name == "postgresql")
    for chunk in chunks(ctx.conn, streams):
        for row in query.rows(ctx.conn, {"streams": list(chunk)}):
            heads[row.stream] = (row.seq, row.hash)
    rows = []
    for stream, action, entity, entity_id, before, after in records:
        rec = _chained(ctx, heads.get(stream, (0, GENESIS)), stream, action, entity, entity_id, before, after)
        heads[stream] = (rec["seq"], rec["hash"])
        rows.append(rec)
    insert_rows(ctx.conn, audit_log, rows, copy_from=copy_from)


@dataclass(frozen=True)
class Tampered:
    record_id: int
    stream: str
    seq: int
    problem: str


def verify(conn: Connection) -> tuple[int, list[Tampered]]:
    """Recompute every chain; returns the number of records checked and the first break per stream."""
    rows = conn.execute(select(audit_log).order_by(audit_log.c.stream, audit_log.c.seq)).mappings()
    checked = 0
    broken: dict[str, Tampered] = {}
    prev: dict[str, tuple[int, str]] = {}
    for row in rows:
        checked += 1
        stream = row["stream"]
        if stream in broken:
            continue
        last_seq, last_hash = prev.get(stream, (0, GENESIS))
        problem = None
        if row["seq"] != last_seq + 1:
            problem = f"sequence jumps from {last_seq} to {row['seq']} (a record was removed)"
        elif row["prev_hash"] != last_hash:
            problem = "does not link to the record before it"
        elif _digest(dict(row)) != row["hash"]:
            problem = "content does not match its hash (the record was altered)"
        if problem:
            broken[stream] = Tampered(row["id"], stream, row["seq"], problem)
        prev[stream] = (row["seq"], row["hash"])
    return checked, sorted(broken.values(), key=lambda t: t.record_id)
