"""The unit of work every use case runs in (Ctx) and the running system that hands them out
(Platform): engine, clock, settings, and the rule set and model cache it was given."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from bnpl.runtime.actor import SYSTEM, Actor
from bnpl.runtime.clock import Clock, FixedClock, SystemClock
from bnpl.runtime.settings import Settings
from bnpl.store.db import in_transaction, make_engine

if TYPE_CHECKING:  # handed in from above; the runtime imports no use case
    from bnpl.credit.model_cache import ModelCache
    from bnpl.risk.rules import RuleSet

T = TypeVar("T")


@dataclass
class Ctx:
    """One unit of work: a transaction, the business date, and who is acting."""

    conn: Connection
    today: date
    now: datetime
    actor: Actor
    settings: Settings
    rules: RuleSet | None = None
    models: ModelCache | None = None  # loaded credit models; None: no credit assessment at all


class Calendar(Protocol):
    """The closed business dates (``bnpl.services.business_days.BusinessCalendar``), handed in from
    above: ``admit`` refuses a unit of work dated after the open business date."""

    def admit(self, ctx: Ctx) -> None: ...


class Platform:
    """The running system: engine, clock and settings, and the rule set and loaded models it was
    handed (``bnpl.services.boot.open_platform`` loads them). Front ends ask it for units of work."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        engine: Engine | None = None,
        rules: RuleSet | None = None,
        models: ModelCache | None = None,
        calendar: Calendar | None = None,
    ) -> None:
        self.settings = settings
        if clock is None:
            clock = (
                FixedClock(settings.business_date)
                if settings.business_date
                else SystemClock(settings.timezone)
            )
        self.clock = clock
        self.engine = engine or make_engine(settings.database_url)
        self.rules = rules
        self.models = models
        self.calendar = calendar

    def on(self, day: date) -> Platform:
        """The same system with its business date pinned to ``day`` (end of day's catch-up runs
        each missed date this way); it shares the engine, rules and models."""
        return Platform(self.settings, FixedClock(day), self.engine, self.rules, self.models, self.calendar)

    def run(self, actor: Actor, work: Callable[[Ctx], T]) -> T:
        """Run ``work`` in one transaction (committed on success, retried on serialisation failure),
        if the calendar admits its business date."""
        today, now = self.clock.today(), self.clock.now()
        calendar = self.calendar

        def unit(conn: Connection) -> T:
            ctx = Ctx(conn, today, now, actor, self.settings, self.rules, self.models)
            if calendar is not None:
                calendar.admit(ctx)
            return work(ctx)

        return in_transaction(self.engine, unit)

    @contextmanager
    def read(self, actor: Actor = SYSTEM) -> Iterator[Ctx]:
        with self.engine.connect() as conn:
            yield Ctx(
                conn, self.clock.today(), self.clock.now(), actor, self.settings, self.rules, self.models
            )

    def dispose(self) -> None:
        self.engine.dispose()
