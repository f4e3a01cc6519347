"""Idempotency keys: a replay returns the first answer, a reuse with another body is refused.

A single request claims its key with ``INSERT … ON CONFLICT DO NOTHING`` inside the same
transaction as the effect, so a concurrent request with the same key waits on the unique index
until the first commits, then finds the stored answer: two requests, one effect. A batch keeps
its new keys at the end instead (``keep_many``), and runs again when another transaction kept
one of them first: then it finds that stored answer.

A secret in an answer (a new API key) is shown once and never stored: the caller names such
fields, and the stored answer — what a replay returns — has each of them ``null`` with a
``<field>_shown`` note beside it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson
from psycopg.types.json import Json
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bnpl.domain.errors import IdempotencyConflict, InvalidInput
from bnpl.runtime import Ctx
from bnpl.store.db import json_bytes
from bnpl.store.direct import Direct
from bnpl.store.tables import idempotency_keys

PENDING = -1
SHOWN_ONCE = "once, in the first answer; not stored"


@dataclass(frozen=True)
class Stored:
    status_code: int
    response: Any


def request_hash(method: str, path: str, body: Any) -> str:
    payload = orjson.dumps({"method": method, "path": path, "body": body}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


def insert_ignoring(ctx: Ctx) -> Any:
    """The dialect's ``insert`` (with ``on_conflict_do_nothing``)."""
    return pg_insert if ctx.conn.dialect.name == "postgresql" else sqlite_insert


# A batch (``orders.run_keyed``) claims nothing before its work: it reads which of its keys were
# seen before, does the work of the others, and keeps their answers at the end, in one insert. A
# key another transaction kept meanwhile (the same request sent twice at once) makes that insert
# come back short: the batch is rolled back and run again, and then replays that key's answer.
# Claiming first cost an insert and then an update of every key, a fifth of a batch's time in
# PostgreSQL.

# PostgreSQL: the stored answers of keys seen before, each found by its own primary-key probe (the
# LIMIT keeps the subquery a per-key lookup: joined as a set, PostgreSQL chose the plan from the
# table's statistics, and with statistics older than a merchant's burst of keys, a new merchant's
# or a table analysed when small, it read every key of the scope for each batch)
STORED_MANY_PG = Direct(
    text(
        "SELECT i.key, i.request_hash, i.status_code, i.response FROM unnest(CAST(:keys AS text[])) "
        "AS k(key) CROSS JOIN LATERAL (SELECT * FROM idempotency_keys WHERE scope = :scope "
        "AND key = k.key LIMIT 1) AS i"
    )
)
# the answers as one JSON parameter: the statement is one text, prepared once, whatever the size
KEEP_MANY_PG = Direct(
    text(
        "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response, created_at) "
        "SELECT :scope, t.key, t.request_hash, t.status_code, t.response, :now FROM json_to_recordset("
        "CAST(:answers AS json)) AS t(key text, request_hash text, status_code integer, response json) "
        "ON CONFLICT DO NOTHING RETURNING key"
    )
)


def stored_many(ctx: Ctx, scope: str, keys: list[str]) -> dict[str, Any]:
    """The stored rows (key, request_hash, status_code, response) of ``keys`` seen before."""
    if not keys:
        return {}
    if ctx.conn.dialect.name == "postgresql":
        return {row.key: row for row in STORED_MANY_PG.rows(ctx.conn, {"scope": scope, "keys": keys})}
    c = idempotency_keys.c
    rows = ctx.conn.execute(select(idempotency_keys).where(c.scope == scope, c.key.in_(keys)))
    return {row.key: row for row in rows}


def keep_many(ctx: Ctx, scope: str, answers: list[tuple[str, str, int, Any]]) -> set[str]:
    """Keep the answers (key, fingerprint, status, body) of new keys, in one statement, in key
    order (two batches insert in one order); returns the keys kept (a key missing was kept by
    another transaction first)."""
    if not answers:
        return set()
    rows = [
        {"key": k, "request_hash": fp, "status_code": code, "response": body}
        for k, fp, code, body in sorted(answers, key=lambda a: a[0])
    ]
    if ctx.conn.dialect.name == "postgresql":
        params = {"scope": scope, "now": ctx.now, "answers": Json(rows, json_bytes)}
        return {row.key for row in KEEP_MANY_PG.rows(ctx.conn, params)}
    statement = sqlite_insert(idempotency_keys).values(
        [r | {"scope": scope, "created_at": ctx.now} for r in rows]
    )
    kept = ctx.conn.execute(statement.on_conflict_do_nothing().returning(idempotency_keys.c.key))
    return set(kept.scalars())


def claim(ctx: Ctx, scope: str, key: str, fingerprint: str) -> Stored | None:
    """Claim ``key`` for this transaction, or return the answer stored under it."""
    if not key or len(key) > 255:
        raise InvalidInput("Idempotency-Key must be 1 to 255 characters")
    insert = pg_insert if ctx.conn.dialect.name == "postgresql" else sqlite_insert
    claimed = ctx.conn.execute(
        insert(idempotency_keys)
        .values(
            scope=scope,
            key=key,
            request_hash=fingerprint,
            status_code=PENDING,
            response={},
            created_at=ctx.now,
        )
        .on_conflict_do_nothing()
        .returning(idempotency_keys.c.key)
    ).first()
    if claimed is not None:
        return None
    stored = lookup(ctx, scope, key, fingerprint)
    assert stored is not None  # the insert conflicted with a committed row
    return stored


def lookup(ctx: Ctx, scope: str, key: str, fingerprint: str) -> Stored | None:
    """The answer stored under ``key``, without claiming it (for work that spans transactions)."""
    row = ctx.conn.execute(
        select(idempotency_keys).where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
    ).first()
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise IdempotencyConflict("this Idempotency-Key was already used with a different request")
    return Stored(row.status_code, row.response)


def remember(
    ctx: Ctx,
    scope: str,
    key: str,
    fingerprint: str,
    status_code: int,
    response: Any,
    secret_fields: Collection[str] = (),
) -> tuple[Stored, bool]:
    """Store ``response`` under ``key`` unless another request stored one first; returns the
    answer that stands (this one in full) and whether it was stored before (a replay)."""
    stored = claim(ctx, scope, key, fingerprint)
    if stored is not None:
        return stored, True
    store(ctx, scope, key, status_code, response, secret_fields)
    return Stored(status_code, response), False


def store(
    ctx: Ctx, scope: str, key: str, status_code: int, response: Any, secret_fields: Collection[str] = ()
) -> None:
    """Keep the answer for replays, without its ``secret_fields``."""
    ctx.conn.execute(
        idempotency_keys.update()
        .where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
        .values(status_code=status_code, response=without_secrets(response, secret_fields))
    )


def without_secrets(response: Any, secret_fields: Collection[str]) -> Any:
    """``response`` as a replay shows it: each secret field ``null``, with a note that it was
    shown once."""
    if not secret_fields or not isinstance(response, dict):
        return response
    kept = dict(response)
    for name in secret_fields:
        if name in kept:
            kept[name] = None
            kept[f"{name}_shown"] = SHOWN_ONCE
    return kept
