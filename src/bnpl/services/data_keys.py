"""Key rotation for the personal data sealed at rest (``store/crypto.py``): how many values each
key seals, and resealing them under the primary key (``bnpl data-keys status | reencrypt``).

Rotation: put a new key first in ``BNPL_DATA_KEYS`` and keep the old ones after it, restart,
run ``bnpl data-keys reencrypt`` (a batch per transaction, safe to stop and run again, and beside
the running platform), then remove the old keys once ``status`` shows nothing under them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from sqlalchemy import Table, func, select

from bnpl.runtime import ADMIN, Ctx, Platform
from bnpl.store.crypto import new_data_key as new_data_key  # `bnpl data-keys new`
from bnpl.store.crypto import new_lookup_key as new_lookup_key
from bnpl.store.tables import SEALED_COLUMNS


def _key_id(ctx: Ctx, column: Any) -> Any:
    """The key id a sealed value starts with, in SQL."""
    if ctx.conn.dialect.name == "postgresql":
        return func.split_part(column, ":", 1)
    return func.substr(column, 1, func.instr(column, ":") - 1)


def usage(ctx: Ctx) -> dict[str, dict[str, int]]:
    """For each sealed column, how many values each key id seals."""
    ctx.actor.require("admin")
    found: dict[str, dict[str, int]] = {}
    for table, name in SEALED_COLUMNS:
        column = table.c[name]
        kid = _key_id(ctx, column).label("kid")
        rows = ctx.conn.execute(select(kid, func.count()).where(column.is_not(None)).group_by(kid)).all()
        found[f"{table.name}.{name}"] = {str(k): int(n) for k, n in rows}
    return found


def _stale(ctx: Ctx, table: Table, name: str) -> Any:
    column = table.c[name]
    return column.is_not(None) & ~column.startswith(f"{ctx.settings.keys.primary}:", autoescape=True)


def pending(ctx: Ctx) -> int:
    """Sealed values not under the primary key."""
    ctx.actor.require("admin")
    return sum(
        int(ctx.conn.execute(select(func.count()).where(_stale(ctx, t, n))).scalar_one())
        for t, n in SEALED_COLUMNS
    )


def reseal_batch(ctx: Ctx, table: Table, name: str, after: int, size: int) -> tuple[int, int, int]:
    """Reseal up to ``size`` values of ``table.name`` not under the primary key, of rows after id
    ``after``; returns the last id looked at, how many rows were looked at and how many resealed.
    A value changed meanwhile (compare-and-set on the old value) is left to whoever changed it."""
    ctx.actor.require("admin")
    keys, column = ctx.settings.keys, table.c[name]
    rows = ctx.conn.execute(
        select(table.c.id, column)
        .where(table.c.id > after, _stale(ctx, table, name))
        .order_by(table.c.id)
        .limit(size)
    ).all()
    resealed = 0
    for row_id, sealed in rows:
        plain = keys.open(sealed, table.name, name, row_id)
        fresh = keys.seal(plain, table.name, name, row_id)
        resealed += ctx.conn.execute(
            table.update().where(table.c.id == row_id, column == sealed).values({name: fresh})
        ).rowcount
    return (rows[-1][0] if rows else after), len(rows), resealed


def reencrypt(platform: Platform, size: int = 500, progress: Callable[[int], None] | None = None) -> int:
    """Reseal every value not under the primary key, one batch per transaction; ``progress`` is
    told how many rows each batch looked at. Returns how many were resealed."""
    total = 0
    for table, name in SEALED_COLUMNS:
        for looked, resealed in _batches(platform, table, name, size):
            total += resealed
            if progress is not None:
                progress(looked)
    return total


def _batches(platform: Platform, table: Table, name: str, size: int) -> Iterator[tuple[int, int]]:
    after, looked = 0, size
    while looked == size:
        after, looked, resealed = platform.run(
            ADMIN, partial(reseal_batch, table=table, name=name, after=after, size=size)
        )
        yield looked, resealed
