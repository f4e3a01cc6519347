"""How simulated shoppers behave, as vectorised draws from their hidden traits. Pure numpy: no
database, no services; the engine (``sim/engine.py``) turns these draws into calls on the platform.

The story, one step at a time:

* **browsing → intent**: each shopper has a daily chance of wanting something, higher for the
  impulsive and the big spenders, and much higher on a day their creator streams live (a burst);
* **checkout**: without an offer a shopper buys when the price fits the budget; the pay-later offer
  lifts conversion most for the impulsive and for baskets that strain this month's budget — that
  lift is what the randomised control group (no offer shown) measures;
* **the loan's fate**: drawn at checkout from the true PD (``population.default_probability``): a
  good loan is paid around its due dates (a few pay late by days), a bad one stops paying;
* **collections**: each day overdue a bad loan cures with a small base chance that reminders,
  calls and visits raise; fraud never cures;
* **trial**: some goods go back, more for poor-quality merchants and apparel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Behaviour:
    """The simulator's behavioural constants; the defaults give a plausible season."""

    intent_per_day: float = 0.009  # an average shopper's chance of a purchase intent on a day
    burst_per_hype: float = 0.02  # extra chance on a day their creator streams, per unit of hype
    live_days_share: float = 0.25  # a creator streams on this share of days, times live_share
    control_share: float = 0.10  # shoppers who never see the offer (the randomised control group)
    bnpl_take_up: float = 0.35  # buyers who would buy anyway but still choose to pay later
    offer_lift: float = 0.8  # the most the offer lifts conversion, for a strained budget
    stickiness: float = 0.12  # each kept pay-later order raises the shopper's intent rate by this
    late_share: float = 0.10  # good loans paid a few days late
    cure_base: float = 0.006  # a bad loan's daily chance of curing, unprompted
    cure_by_contact: dict[str, float] = field(
        default_factory=lambda: {
            "push": 0.01,
            "sms": 0.02,
            "email": 0.005,
            "letter": 0.03,
            "call": 0.10,  # a conversation; a missed call counts for little
            "field_visit": 0.25,
        }
    )
    promise_kept: float = 0.55  # a bad loan's customer who promised pays by the promised day
    return_scale: float = 1.0

    def __post_init__(self) -> None:
        shares = (self.control_share, self.bnpl_take_up, self.offer_lift, self.late_share, self.promise_kept)
        if any(not 0 <= s <= 1 for s in shares):
            raise ValueError("shares and probabilities are between 0 and 1")
        if self.intent_per_day <= 0 or self.intent_per_day > 0.5:
            raise ValueError("intent_per_day is between 0 and 0.5")


def intent_rate(
    impulse: np.ndarray, appetite: np.ndarray, engagement: np.ndarray, behaviour: Behaviour
) -> np.ndarray:
    """Each shopper's chance of a purchase intent today, before any live-stream burst."""
    rate = behaviour.intent_per_day * np.exp(0.35 * impulse) * np.sqrt(appetite / 0.08) * engagement
    return np.asarray(np.clip(rate, 0, 0.5))


def conversion(
    amount: np.ndarray, income: np.ndarray, appetite: np.ndarray, impulse: np.ndarray, behaviour: Behaviour
) -> tuple[np.ndarray, np.ndarray]:
    """The chance to buy without the offer and with it. Without: the basket against this month's
    budget. With: the offer spreads the cost, which matters most when the budget is strained and
    the shopper impulsive."""
    budget = np.maximum(income * appetite, 1)
    strain = np.log(np.maximum(amount, 1) / budget)
    without = 1 / (1 + np.exp(-(0.3 - 1.1 * strain + 0.3 * impulse)))
    lift = behaviour.offer_lift / (1 + np.exp(-(strain + 0.5 * impulse)))
    return without, without + (1 - without) * lift


def loan_lag(rng: np.random.Generator, worth: np.ndarray, behaviour: Behaviour) -> np.ndarray:
    """Days after each due date that a good loan is paid: most pay on the day or a little before,
    a few (fewer among the creditworthy) a few days late."""
    early = -rng.integers(0, 3, size=len(worth))
    late_share = behaviour.late_share * np.exp(-0.5 * worth)
    late = rng.random(len(worth)) < late_share
    return np.where(late, 1 + rng.geometric(0.3, size=len(worth)), early)


def returns(
    rng: np.random.Generator, return_rate: np.ndarray, quality: np.ndarray, behaviour: Behaviour
) -> np.ndarray:
    """Whether each delivered order goes back within the trial."""
    p = np.clip(return_rate * (1.6 - quality) * behaviour.return_scale, 0, 0.9)
    return rng.random(len(p)) < p


def cure_chance(
    worth: np.ndarray, contacts: list[dict[str, int]], fraud: np.ndarray, behaviour: Behaviour
) -> np.ndarray:
    """Today's chance that each bad loan cures, from yesterday's contacts (channel → count of
    contacts that happened); capped, and nil for fraud."""
    base = behaviour.cure_base * np.exp(0.4 * worth)
    lift = np.array(
        [sum(behaviour.cure_by_contact.get(ch, 0.0) * min(n, 2) for ch, n in c.items()) for c in contacts]
    )
    chance = np.clip(base + lift, 0, 0.6)
    return np.asarray(np.where(fraud, 0.0, chance))
