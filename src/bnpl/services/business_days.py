"""The calendar of closed business dates (table ``business_days``; the rules are in
``domain/business_days.py``): end of day closes one date at a time, in order, and every write is
admitted only if its business date is not after the open business date (the day after the last
closed one), unless an operator allows forward dates (``BNPL_ALLOW_FORWARD_DATES``, CLI
``--allow-forward-dates``), which is audited once per date.

The platform holds one :class:`BusinessCalendar` (``services/boot.open_platform``) and asks it
about every unit of work it runs, so the check is on the hot path: the open date is cached, and
the table is read again only when a write is dated after the cached open date (dates only ever
close forward, so a stale cache can only be too strict, never too lax, and a re-read fixes it)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from bnpl.domain.business_days import forward_of, open_date
from bnpl.domain.errors import InvalidState
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.store.direct import Direct
from bnpl.store.frames import as_date
from bnpl.store.tables import audit_log, business_days

FORWARD_ACTION = "business_date.forward"  # the audit record of an allowed forward-dated write
_LAST_CLOSED = Direct(select(func.max(business_days.c.business_date)))  # every transaction reads it


def last_closed(conn: Connection) -> date | None:
    """The last closed business date, or None on an empty calendar."""
    last = _LAST_CLOSED.scalar(conn)
    return None if last is None else as_date(last)


def closed_day(conn: Connection, day: date) -> dict[str, Any] | None:
    """When and by whom ``day`` was closed, and its end of day's summary; None if it is open."""
    row = conn.execute(select(business_days).where(business_days.c.business_date == day)).first()
    return None if row is None else dict(row._mapping)


def close(ctx: Ctx, summary: dict[str, Any]) -> None:
    """Close today: end of day for it finished."""
    ctx.conn.execute(
        insert(business_days).values(
            business_date=ctx.today, closed_at=ctx.now, closed_by=str(ctx.actor), summary=summary
        )
    )


def later_entries(conn: Connection, day: date) -> date | None:
    """The latest business date of any audited action after ``day``, or None."""
    latest = conn.execute(select(func.max(audit_log.c.business_date))).scalar()
    return as_date(latest) if latest is not None and as_date(latest) > day else None


def forward_refusal(day: date, opened: date) -> str:
    return (
        f"the business date {day} is after the open business date {opened}: close the days "
        f"before it with `bnpl eod run --catch-up` (POST /admin/eod?catch_up=true), or allow "
        f"forward dates (BNPL_ALLOW_FORWARD_DATES, --allow-forward-dates; audited)"
    )


class BusinessCalendar:
    """Admits each unit of work by its business date (see the module docstring)."""

    def __init__(self) -> None:
        self._open: date | None = None  # the open business date when last read; only moves forward

    def admit(self, ctx: Ctx) -> None:
        if self._open is not None and ctx.today <= self._open:
            return
        last = last_closed(ctx.conn)
        self._open = open_date(last)
        opened = forward_of(ctx.today, last)
        if opened is None:
            return
        if not ctx.settings.allow_forward_dates:
            raise InvalidState(forward_refusal(ctx.today, opened))
        self._audit_override(ctx, opened)

    def _audit_override(self, ctx: Ctx, opened: date) -> None:
        """One audit record per forward date: the first write that bears it says who and when."""
        seen = ctx.conn.execute(
            select(audit_log.c.seq)
            .where(audit_log.c.action == FORWARD_ACTION, audit_log.c.business_date == ctx.today)
            .limit(1)
        ).first()
        if seen is None:
            audit.record(
                ctx,
                "calendar",
                FORWARD_ACTION,
                "business_day",
                ctx.today.isoformat(),
                None,
                {"open_business_date": opened.isoformat(), "by": str(ctx.actor)},
            )
