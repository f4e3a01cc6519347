"""The business clock: "today" for every date-dependent rule, injectable so that tests and the
simulator can run a year in seconds, and settable so that end of day can catch up missed dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bnpl.runtime.settings import DEFAULT_TZ


class Clock(Protocol):
    def today(self) -> date: ...
    def now(self) -> datetime: ...


class SystemClock:
    """Business date is the calendar date in the platform's time zone."""

    def __init__(self, tz: str = DEFAULT_TZ) -> None:
        self.tz = ZoneInfo(tz)

    def today(self) -> date:
        return datetime.now(self.tz).date()

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A business date that tests and the simulator move by hand. Timestamps fall on that date
    (at the real time of day), so time windows such as velocity follow the business clock."""

    def __init__(self, day: date) -> None:
        self.day = day

    def today(self) -> date:
        return self.day

    def now(self) -> datetime:
        return datetime.combine(self.day, datetime.now(UTC).time(), tzinfo=UTC)

    def advance(self, days: int = 1) -> date:
        self.day += timedelta(days=days)
        return self.day

    def set(self, day: date) -> date:
        self.day = day
        return self.day
