"""Idempotency keys: a replay returns the first answer, a reuse with another body is refused.

The key is claimed with ``INSERT … ON CONFLICT DO NOTHING`` inside the same transaction as the
effect, so a concurrent request with the same key waits on the unique index until the first
commits, then finds the stored answer: two requests, one effect.

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
from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bnpl.domain.errors import IdempotencyConflict, InvalidInput
from bnpl.runtime import Ctx
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


# the stored answer of a claimed key, for many keys at once (a batch)
STORE = (
    idempotency_keys.update()
    .where(idempotency_keys.c.scope == bindparam("b_scope"), idempotency_keys.c.key == bindparam("b_key"))
    .values(status_code=bindparam("status_code"), response=bindparam("response"))
)


# PostgreSQL: a batch's keys as arrays, so the statement is one text, prepared once (a multi-row
# VALUES list is compiled anew for every batch size; that compiling was a tenth of a batch's time).
# The claim returns where each new row is (its ctid), and the answers are written to those rows by a
# TID scan: found through the key, PostgreSQL chose its plan from the table's statistics, and with
# statistics older than a merchant's burst of keys (a new merchant, a table analysed when small)
# it read every key of the scope for each batch, more with each batch of a live stream. The rows
# are this transaction's own, uncommitted: nothing else moves them before the update.
CLAIM_MANY_PG = text(
    "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response, created_at) "
    "SELECT :scope, k, h, :pending, '{}', :now FROM unnest(CAST(:keys AS text[]), CAST(:hashes AS text[])) "
    "AS t(k, h) ON CONFLICT DO NOTHING RETURNING key, CAST(ctid AS text)"
)
# the answers as one JSON object {key: [status, body]}: a json[] parameter would be escaped element
# by element in Python, which cost more than the statement saved
STORE_MANY_PG = text(
    "UPDATE idempotency_keys SET status_code = (t.v->>0)::integer, response = t.v->1 "
    "FROM json_each(CAST(:answers AS json)) AS t(k, v) "
    "WHERE idempotency_keys.ctid = ANY(CAST(:rows AS tid[])) AND idempotency_keys.key = t.k"
)
# the stored answers of keys seen before, each found by its own primary-key probe (the LIMIT keeps
# the subquery a per-key lookup, whatever the statistics say about the scope)
STORED_MANY_PG = text(
    "SELECT i.key, i.request_hash, i.status_code, i.response FROM unnest(CAST(:keys AS text[])) AS k(key) "
    "CROSS JOIN LATERAL (SELECT * FROM idempotency_keys WHERE scope = :scope AND key = k.key LIMIT 1) AS i"
).columns(
    idempotency_keys.c.key,
    idempotency_keys.c.request_hash,
    idempotency_keys.c.status_code,
    idempotency_keys.c.response,
)


def claim_many(ctx: Ctx, scope: str, fingerprints: dict[str, str]) -> dict[str, str | None]:
    """Claim the keys of ``fingerprints`` (key → request fingerprint) that are new, in one
    statement, in sorted order (two batches claim in one order); returns the claimed keys, each
    with where its row is for ``store_many`` (PostgreSQL: its ctid; elsewhere None)."""
    keys = sorted(fingerprints)
    if ctx.conn.dialect.name == "postgresql":
        params = {"scope": scope, "pending": PENDING, "now": ctx.now, "keys": keys}
        rows = ctx.conn.execute(CLAIM_MANY_PG, params | {"hashes": [fingerprints[k] for k in keys]})
        return {key: row for key, row in rows}
    pending = [
        {
            "scope": scope,
            "key": k,
            "request_hash": fingerprints[k],
            "status_code": PENDING,
            "response": {},
            "created_at": ctx.now,
        }
        for k in keys
    ]
    statement = sqlite_insert(idempotency_keys).values(pending).on_conflict_do_nothing()
    return dict.fromkeys(ctx.conn.execute(statement.returning(idempotency_keys.c.key)).scalars())


def stored_many(ctx: Ctx, scope: str, keys: list[str]) -> dict[str, Any]:
    """The stored rows (key, request_hash, status_code, response) of ``keys`` seen before."""
    if not keys:
        return {}
    if ctx.conn.dialect.name == "postgresql":
        rows = ctx.conn.execute(STORED_MANY_PG, {"scope": scope, "keys": keys})
    else:
        c = idempotency_keys.c
        rows = ctx.conn.execute(select(idempotency_keys).where(c.scope == scope, c.key.in_(keys)))
    return {row.key: row for row in rows}


def store_many(
    ctx: Ctx, scope: str, answers: list[tuple[str, int, Any]], claimed: dict[str, str | None]
) -> None:
    """Keep the answers (key, status, body) of keys ``claim_many`` claimed, for replays, in one
    statement."""
    if not answers:
        return
    if ctx.conn.dialect.name == "postgresql":
        by_key = {k: [code, body] for k, code, body in answers}
        where = [claimed[k] for k in by_key]
        ctx.conn.execute(STORE_MANY_PG, {"answers": Json(by_key), "rows": where})
        return
    rows = [{"b_scope": scope, "b_key": k, "status_code": c, "response": b} for k, c, b in answers]
    ctx.conn.execute(STORE, rows[0] if len(rows) == 1 else rows)


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
