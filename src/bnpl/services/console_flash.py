"""The console's flash messages: the one line a page shows after an action ("promise recorded",
"blocked by the contact policy …"), kept on the server for the browser it belongs to and shown once.

A message is keyed by the SHA-256 of a token only that browser holds: its session cookie when
signed in, its sign-in form's cookie when not (so "signed out" reaches the sign-in page). Messages
used to travel in the redirect's ``?message=``/``?error=``, where a crafted link could make the
console say anything; the pages no longer read those parameters at all.

Taking the messages reads first and writes (deletes) only when there is something to show, so
the pages without a message, nearly all of them, add one indexed read and no write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, select

from bnpl.runtime import SYSTEM, Ctx, Platform
from bnpl.services.apikeys import hash_key
from bnpl.store.tables import console_flash

KINDS = ("ok", "err")
KEEP = timedelta(days=1)  # a message nobody came back for is forgotten after this long
MAX_TEXT = 500


def put(platform: Platform, token: str, notes: Sequence[tuple[str, str]]) -> None:
    """Keep ``notes`` (kind, text) for the browser holding ``token``."""
    notes = [(kind, text[:MAX_TEXT]) for kind, text in notes if text]
    if not notes:
        return
    assert all(kind in KINDS for kind, _ in notes)
    key = hash_key(token)

    def keep(ctx: Ctx) -> None:
        f = console_flash.c
        ctx.conn.execute(delete(console_flash).where(f.created_at < ctx.now - KEEP))
        ctx.conn.execute(
            console_flash.insert(),
            [{"key_hash": key, "kind": kind, "text": text, "created_at": ctx.now} for kind, text in notes],
        )

    platform.run(SYSTEM, keep)


def take(platform: Platform, token: str | None) -> list[tuple[str, str]]:
    """The messages waiting for the browser holding ``token``, oldest first; they are gone after."""
    if not token:
        return []
    key = hash_key(token)
    f = console_flash.c
    with platform.read() as ctx:
        waiting = ctx.conn.execute(select(f.id).where(f.key_hash == key).limit(1)).first()
    if waiting is None:
        return []

    def pop(ctx: Ctx) -> list[tuple[str, str]]:
        rows = ctx.conn.execute(select(f.id, f.kind, f.text).where(f.key_hash == key).order_by(f.id)).all()
        ctx.conn.execute(delete(console_flash).where(f.id.in_([r.id for r in rows])))
        return [(r.kind, r.text) for r in rows]

    return platform.run(SYSTEM, pop)
