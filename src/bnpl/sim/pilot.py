"""The model a season starts with, when the marketplace feed is on: a scorecard fitted on a pilot.

A platform launching on a marketplace has no repayment history of its own, but the marketplace's
data exists before it does. The simulator stands in a *pilot*: ``PILOT_SHOPPERS`` shoppers of
another world drawn by the same generator (``population.generate`` with a seed of its own), each
with a marketplace life (``market_life``: the same habits, the same 6–24 months of orders, the same
consent), who each made one pay-later purchase on the pilot day (a basket drawn as a season's
checkout is). A stolen account's purchase is the thief's, after the takeover the feed reports. Its
fate is drawn from its true PD (``population.default_probability``, with a stress shock as often as
a season has one at any moment; the shock shows in the orders of its days as in a season's daily
feed: more failed payments). The features are what the checkout would have read: the feed's
(``credit.feed_features. compute``, the very code of the checkout, neutral without consent) and the
platform's own of a first purchase (no history yet, so every one of them is at its neutral value and
the scorecard gives them no weight until the platform retrains on its own matured orders).

Nothing of the season's own shoppers is used: the pilot is other people, so the season's model AUC
is an out-of-sample figure. Under ``no-feed`` the season starts, as before, with a scorecard on the
synthetic table (``credit.synthetic``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd

from bnpl.credit.dataset import Dataset, from_frame
from bnpl.credit.feed_features import Feed, compute
from bnpl.credit.model_features import MODEL_FEATURE_NAMES, MODEL_FEATURES, MODEL_NEUTRAL, ORDER_AMOUNT
from bnpl.domain.marketplace import (
    Engagement,
    FeedRecord,
    FeedStatus,
    Order,
    Outcome,
    PaymentKind,
    PhoneTenure,
    Profile,
)
from bnpl.domain.orders import Channel
from bnpl.sim import market_life as life
from bnpl.sim.population import (
    STRESS_DAYS,
    World,
    WorldShape,
    basket,
    default_probability,
    fraud_merchant,
    fraud_targets,
    generate,
)

PILOT_SHOPPERS = 20_000
PILOT_SEED_OFFSET = 1_000_003  # another world: none of the season's shoppers
HISTORY_DAYS = 365


def pilot_dataset(seed: int, shape: WorldShape = WorldShape(), shoppers: int = PILOT_SHOPPERS) -> Dataset:
    """The pilot's training table (see the module docstring)."""
    pilot_seed = seed + PILOT_SEED_OFFSET
    world = generate(shoppers, pilot_seed, shape)
    habits = life.draw_habits(world, pilot_seed, 1)
    day = date(2026, 1, 15)
    as_of = datetime.combine(day, time(4), tzinfo=UTC)  # 12:00 in Shanghai
    rng = np.random.default_rng([pilot_seed, 1])
    consents = habits.col("consents")
    who = np.flatnonzero(consents)
    stressed, stressed_days = _stress(world, np.random.default_rng([pilot_seed, 2]))
    drawn = life.draw_orders(
        rng,
        habits,
        who,
        day - timedelta(days=1),
        np.minimum(habits.col("tenure_days")[who], HISTORY_DAYS),
        stressed_days=stressed_days[who],
    )
    records: dict[int, list[FeedRecord]] = {int(s): [_profile(habits, int(s), day)] for s in who}
    # a stolen account's pilot purchase is the thief's, after the takeover the feed reports (as in
    # a season: a new phone, one more address and payment method, the evening before)
    stolen = world.shoppers["fraud"].to_numpy() == "stolen"
    shown = habits.col("takeover_shown")
    for s in who[stolen[who] & shown[who]]:
        records[int(s)].append(_profile(habits, int(s), day, takeover=True))
    # honest shoppers who changed their phone or an address in the 30 days before, as often as in a season
    recent = habits.col("change_day") < 30
    for s in who[recent[who] & ~stolen[who]]:
        records[int(s)].append(_profile(habits, int(s), day, takeover=False, change=True))
    for i, (s, at, category, channel, amount, kind, outcome) in enumerate(
        zip(
            *(
                drawn[k]
                for k in ("shopper", "at", "category", "channel", "amount", "payment_kind", "outcome")
            ),
            strict=True,
        )
    ):
        records[int(s)].append(
            Order(
                f"p{i}",
                int(s),
                at,
                str(category),
                Channel(channel),
                int(amount),
                PaymentKind(kind),
                Outcome(outcome),
            )
        )
    watchers = who[habits.col("engagement_scope")[who]]
    for week in range(4, 0, -1):
        minutes = life.engagement_minutes(rng, habits, watchers)
        start = day - timedelta(days=7 * week)
        for s, m in zip(watchers, minutes, strict=True):
            records[int(s)].append(Engagement(f"e{s}-{week}", int(s), start, int(m)))
    timezones = habits.col("timezone")
    rows = [
        compute(Feed(FeedStatus.OK, tuple(records[i]), str(timezones[i])), as_of).values
        if i in records
        else {}
        for i in range(shoppers)
    ]
    frame = pd.DataFrame(rows, columns=list(MODEL_FEATURE_NAMES)).astype(float).fillna(MODEL_NEUTRAL)
    bad, amount = _fates(world, rng, stressed)
    frame[ORDER_AMOUNT] = amount.astype(float)
    return from_frame(
        "pilot",
        frame,
        bad,
        labels={f.name: (f.en, f.zh) for f in MODEL_FEATURES},
        directions={f.name: f.direction for f in MODEL_FEATURES},
    )


def _profile(habits: life.Habits, s: int, day: date, takeover: bool = False, change: bool = False) -> Profile:
    """The shopper's profile the day before; or, the hour after midnight, a takeover's (a new
    phone, one more address and payment method) or an honest change (a new phone or an address)."""
    h = habits.frame
    opened = datetime.combine(day, time(0), tzinfo=UTC) - timedelta(days=int(h["tenure_days"].iat[s]))
    later = takeover or change
    observed = datetime.combine(day, time(0), tzinfo=UTC) - (
        timedelta(hours=-1) if later else timedelta(days=1)
    )
    new_phone = takeover or (change and bool(h["change_phone"].iat[s]))
    new_address = takeover or (change and not new_phone)
    return Profile(
        f"pp{s}-{int(takeover)}{int(change)}",
        s,
        observed,
        opened,
        bool(h["real_name"].iat[s]),
        PhoneTenure(life.PHONE_BANDS[0 if new_phone else int(h["phone_band"].iat[s])]),
        int(h["payment_methods"].iat[s]) + takeover,
        int(h["addresses"].iat[s]) + new_address,
    )


def _stress(world: World, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Who is under a stress shock on the pilot day, as likely as at any moment of a season, and
    for how many days before it (the shock began within the last ``STRESS_DAYS``): the orders of
    those days show it, as a season's daily feed does (more failed payments)."""
    shock = world.shoppers["stress_rate"].to_numpy() / 30
    n = len(shock)
    stressed = rng.random(n) < 1 - (1 - shock) ** STRESS_DAYS
    return stressed, np.where(stressed, rng.integers(1, STRESS_DAYS + 1, n), 0)


def _fates(world: World, rng: np.random.Generator, stressed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pilot shopper's first pay-later purchase and whether it went bad: the shopper's own
    fraud kind (a stolen account's purchase is the thief's), a basket drawn as a season's checkout
    is (``population.fraud_merchant`` and ``basket``: fraud buys resold goods or at a colluding
    merchant, a thief and a ring at double the price), and the stress shock ``stressed`` (see
    ``_stress``)."""
    shoppers, merchants = world.shoppers, world.merchants
    n = len(shoppers)
    kind = shoppers["fraud"].to_numpy()
    picks = rng.integers(0, np.iinfo(np.int32).max, (3, n))
    merchant = fraud_merchant(fraud_targets(merchants), kind, picks[0] % len(merchants), picks[1], picks[2])
    unit, qty = basket(
        merchants["price"].to_numpy()[merchant], kind, rng.random(n), np.exp(rng.normal(0, 0.3, n))
    )
    amount = (unit * qty).astype(np.int64)
    true_pd = default_probability(
        shoppers["worth"].to_numpy(), shoppers["income"].to_numpy(), amount, kind, stressed
    )
    return (rng.random(n) < true_pd).astype(np.int64), amount
