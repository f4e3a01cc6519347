"""Signing in to the console: the throttles, the password check, and the session it opens.

A password check is a 90 ms scrypt on purpose. It runs with no transaction open: on SQLite a
transaction holds the database's one write lock, and a sign-in flood that hashed inside one held
up every API write behind it (7 ms to 0.85 s at p90). So a sign-in is four short steps:

1. a read: the throttles' counts and the member of staff (nothing written for a refusal, so a
   flood the throttles turn away costs reads only);
2. a short write that takes a place under the throttles (counted again under the lock, so a burst
   of concurrent attempts cannot overshoot them);
3. scrypt, outside any transaction (and off the event loop: the route is a plain ``def``, run in
   the server's thread pool). An unknown username is checked against a dummy hash and a paused
   one against its own, so neither answers faster than a wrong password;
4. a short write with the outcome: a failed attempt audited, or the new session.

Three limits apply. Per username: after ``MAX_FAILURES`` wrong passwords within
``FAILURE_WINDOW`` sign-in pauses for that name (even the right password is refused and audited as
``staff.sign_in_throttled``). Per source (the client address as the application sees it) and
overall: at most ``Settings.sign_ins_per_minute_per_source`` and ``Settings.sign_ins_per_minute``
attempts a minute are let through; past that the answer is ``Refused`` with the seconds to wait,
and the first refusal of each minute is audited as ``staff.sign_in_rate_limited`` (one record a
minute per source, not one per request: the audit log must not become the flood's amplifier).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select

from bnpl.runtime import SYSTEM, Ctx, Platform
from bnpl.services import audit
from bnpl.services.staff import Staff, dummy_hash, open_session, password_matches
from bnpl.store.tables import audit_log, staff_sign_in_attempts, staff_users

MAX_FAILURES = 5  # wrong passwords for one username ...
FAILURE_WINDOW = timedelta(minutes=15)  # ... within this long, and sign-in pauses for that name
WINDOW = timedelta(minutes=1)  # the per-source and overall throttles count attempts this far back
EVERYONE = "*"  # the overall throttle's key where a source's address would be
# PostgreSQL: one transaction at a time counts and takes a place under the throttles (SQLite's
# BEGIN IMMEDIATE already does that)
THROTTLE_LOCK = 0x6273_6E70_7369_676E  # "bnpsign"


@dataclass(frozen=True)
class Refused:
    """Too many attempts lately: try again in ``retry_after`` seconds."""

    scope: str  # source | overall
    retry_after: int


def sign_in(
    platform: Platform, username: str, password: str, source: str
) -> tuple[str, Staff] | Refused | None:
    """A new session for the right password (the raw token goes in the cookie, never the table);
    ``Refused`` when a throttle stops the attempt before any password is checked; None for a wrong
    password, an unknown or disabled member of staff, or a paused username."""
    name = username.strip().lower()
    source = source[:48] or "unknown"
    with platform.read() as ctx:  # 1
        refused = _over_limit(ctx, source)
        user = None if refused else ctx.conn.execute(_USER, {"name": name}).first()
        noted = refused is not None and _refusal_noted(ctx, source, refused)
    if refused is None:
        refused = platform.run(SYSTEM, lambda ctx: _take_place(ctx, source))  # 2
    if refused is not None:
        if not noted:
            platform.run(SYSTEM, lambda ctx: _note_refusal(ctx, source, refused))
        return refused
    stored = user.password_hash if user else None
    ok = password_matches(password, stored or dummy_hash())  # 3: no transaction is open here
    if user is None:
        return None  # nothing to record for a name nobody has
    return platform.run(SYSTEM, lambda ctx: _outcome(ctx, name, user.id, stored, ok))  # 4


_USER = select(staff_users.c.id, staff_users.c.password_hash).where(
    staff_users.c.username == bindparam("name")
)


def _outcome(ctx: Ctx, name: str, user_id: int, checked: str | None, ok: bool) -> tuple[str, Staff] | None:
    # the member of staff's row, locked on PostgreSQL: their audit stream takes one record at a
    # time, and the pause below is decided by the failures already recorded
    user = ctx.conn.execute(select(staff_users).where(staff_users.c.id == user_id).with_for_update()).one()
    stream = f"staff:{name}"
    if _recent_failures(ctx, name) >= MAX_FAILURES:
        # too many wrong passwords lately: no more guesses, right or wrong, until the window passes
        audit.record(ctx, stream, "staff.sign_in_throttled", "staff", user.id, None, None)
        return None
    # (a password changed while this one was being checked no longer counts)
    if not ok or not user.active or user.password_hash != checked:
        audit.record(ctx, stream, "staff.sign_in_failed", "staff", user.id, None, None)
        return None
    return open_session(ctx, user.id, name, user.role)


def _recent_failures(ctx: Ctx, name: str) -> int:
    """Failed sign-ins for ``name`` in the window since its last successful one."""
    a = audit_log.c
    stream = f"staff:{name}"
    since = ctx.now - FAILURE_WINDOW
    last_ok = ctx.conn.execute(
        select(func.max(a.seq)).where(a.stream == stream, a.action == "staff.signed_in", a.at >= since)
    ).scalar()
    return int(
        ctx.conn.execute(
            select(func.count()).where(
                a.stream == stream, a.action == "staff.sign_in_failed", a.at >= since, a.seq > (last_ok or 0)
            )
        ).scalar_one()
    )


# --- the per-source and overall throttles ----------------------------------------------------------


def _limits(ctx: Ctx, source: str) -> list[tuple[str, str, int]]:
    s = ctx.settings
    return [
        ("source", source, s.sign_ins_per_minute_per_source),
        ("overall", EVERYONE, s.sign_ins_per_minute),
    ]


def _over_limit(ctx: Ctx, source: str) -> Refused | None:
    """The first throttle that has let its limit through in the last minute, with the seconds
    until its oldest counted attempt leaves the window (and a place frees up)."""
    t = staff_sign_in_attempts.c
    recent = [t.at > ctx.now - WINDOW, t.at <= ctx.now]
    for scope, key, limit in _limits(ctx, source):
        where = [*recent, t.source == key] if key != EVERYONE else recent
        count = int(ctx.conn.execute(select(func.count()).where(*where)).scalar_one())
        if count >= limit:
            frees = ctx.conn.execute(
                select(t.at).where(*where).order_by(t.at).offset(count - limit).limit(1)
            ).scalar_one()
            wait = (_aware(frees, ctx.now) + WINDOW - ctx.now).total_seconds()
            return Refused(scope, max(1, math.ceil(wait)))
    return None


def _take_place(ctx: Ctx, source: str) -> Refused | None:
    """Count again under the write lock and, below both limits, take a place for this attempt
    (forgetting attempts that have left the window)."""
    _lock(ctx)
    refused = _over_limit(ctx, source)
    if refused is None:
        t = staff_sign_in_attempts
        ctx.conn.execute(delete(t).where(or_(t.c.at <= ctx.now - WINDOW, t.c.at > ctx.now)))
        ctx.conn.execute(t.insert().values(source=source, at=ctx.now))
    return refused


def _stream(source: str, refused: Refused) -> str:
    return f"sign-in:{source if refused.scope == 'source' else EVERYONE}"


def _refusal_noted(ctx: Ctx, source: str, refused: Refused) -> bool:
    """Whether this throttle's refusals are already in the audit log for the current minute."""
    last = ctx.conn.execute(
        select(audit_log.c.at)
        .where(audit_log.c.stream == _stream(source, refused))
        .order_by(audit_log.c.seq.desc())
        .limit(1)
    ).scalar()
    return last is not None and _aware(last, ctx.now) > ctx.now - WINDOW


def _note_refusal(ctx: Ctx, source: str, refused: Refused) -> None:
    _lock(ctx)  # one writer at a time on the throttle's audit stream
    if _refusal_noted(ctx, source, refused):
        return
    limit = dict((scope, limit) for scope, _, limit in _limits(ctx, source))[refused.scope]
    details: dict[str, Any] = {
        "scope": refused.scope,
        "source": source,
        "limit_per_minute": limit,
        "retry_after": refused.retry_after,
    }
    key = source if refused.scope == "source" else EVERYONE
    audit.record(ctx, _stream(source, refused), "staff.sign_in_rate_limited", "sign_in", key, None, details)


def _lock(ctx: Ctx) -> None:
    if ctx.conn.dialect.name == "postgresql":
        ctx.conn.execute(select(func.pg_advisory_xact_lock(THROTTLE_LOCK)))


def _aware(at: datetime, now: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=now.tzinfo)  # SQLite hands back naive UTC
