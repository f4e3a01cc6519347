"""What the simulator keeps beside the platform: the season's shape, the clock it moves, and the
truth only it knows (each loan's true PD and drawn fate, every purchase intent, the calls the
platform refused)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

import pandas as pd

from bnpl.runtime import FixedClock
from bnpl.sim.behaviour import Behaviour
from bnpl.sim.population import WorldShape

START = date(2026, 3, 2)


@dataclass(frozen=True)
class SimConfig:
    customers: int
    days: int
    seed: int
    start: date = START
    shape: WorldShape = field(default_factory=lambda: WorldShape(merchants_per_1000=4.0))
    behaviour: Behaviour = field(default_factory=Behaviour)

    def __post_init__(self) -> None:
        if not 10 <= self.customers <= 2_000_000:
            raise ValueError("customers must be 10 to 2,000,000")
        if not 1 <= self.days <= 730:
            raise ValueError("days must be 1 to 730")
        if not 0 <= self.seed < 2**63:
            raise ValueError("seed must be a whole number from 0")


class SimClock(FixedClock):
    """The business date the simulator moves, with timestamps at the time of day it sets."""

    def __init__(self, day: date) -> None:
        super().__init__(day)
        self.at = time(2)  # 10:00 in Shanghai

    def set_time(self, day: date, hour_utc: int, minute: int = 0) -> None:
        self.day, self.at = day, time(hour_utc, minute)

    def now(self) -> datetime:
        return datetime.combine(self.day, self.at, tzinfo=UTC)


@dataclass
class Loan:
    """A pay-later order as the simulator sees it, fate included."""

    order_id: int
    shopper: int
    customer_id: int
    merchant: int
    amount: int
    true_pd: float
    bad: bool
    bad_from: int  # the first instalment a bad loan leaves unpaid
    lag: int  # days after (negative: before) each due date that the shopper pays
    fraud: str
    cured: bool = False


@dataclass
class Truth:
    """What only the simulator knows, one row per purchase intent and per loan."""

    intents: list[dict[str, Any]] = field(default_factory=list)
    loans: dict[int, Loan] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)  # the platform said no: call -> times
    retrained: list[dict[str, Any]] = field(default_factory=list)  # each retraining and what it promoted

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        loans = pd.DataFrame([vars(loan) for loan in self.loans.values()])
        return pd.DataFrame(self.intents), loans
