"""Closed business dates: which date end of day may close next, and which dates an action may bear.

End of day closes business dates one at a time, in order. The *open business date* is the day
after the last closed one; on an empty calendar (no end of day yet) there is none, and the first
end of day decides. Pure date logic: the calendar itself is the table ``business_days``
(``services/business_days.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum


def open_date(last_closed: date | None) -> date | None:
    """The business date open for actions and the next end of day, or None on an empty calendar."""
    return None if last_closed is None else last_closed + timedelta(days=1)


def days_between(first: date, last: date) -> list[date]:
    """Every date from ``first`` through ``last``, in order (empty if ``last`` is before ``first``)."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


class Close(Enum):
    """What end of day for a date does, given the calendar."""

    OPEN = "open"  # the open business date (or the first end of day): run it, then close it
    RERUN = "rerun"  # the last closed date again: each step is idempotent or done; nothing changes
    CLOSED = "closed"  # a date before the last closed one: refused, it would undo the later days
    SKIPS = "skips"  # a date after the open one: the dates between would never close


@dataclass(frozen=True)
class Verdict:
    kind: Close
    open: date | None  # the open business date
    missed: tuple[date, ...] = ()  # for SKIPS: the dates end of day would skip


def judge(day: date, last_closed: date | None) -> Verdict:
    """What end of day for ``day`` is."""
    opened = open_date(last_closed)
    if last_closed is None or opened is None or day == opened:
        return Verdict(Close.OPEN, opened)
    if day == last_closed:
        return Verdict(Close.RERUN, opened)
    if day < last_closed:
        return Verdict(Close.CLOSED, opened)
    return Verdict(Close.SKIPS, opened, tuple(days_between(opened, day - timedelta(days=1))))


def forward_of(day: date, last_closed: date | None) -> date | None:
    """The open business date when an action dated ``day`` is after it (refused unless an operator
    overrides); None when ``day`` is fine (the open date, a closed date, or an empty calendar)."""
    opened = open_date(last_closed)
    return opened if opened is not None and day > opened else None
