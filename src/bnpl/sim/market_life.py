"""Each simulated shopper's life on the host marketplace, drawn from their hidden traits: what the
marketplace's consented data feed (``services/marketplace.py``) would tell the platform about them.
Pure numpy: no database, no services; ``sim/feed.py`` sends the draws through the real ingestion.

**Signal strength.** The feed is informative but not an oracle. Each shopper gets a
*marketplace-visible riskiness* ``r = -(RHO·worth + √(1-RHO²)·ε)``, ε ~ N(0, 1) — a noisy view of
the hidden creditworthiness that drives default (``population.default_probability``) — and every
feed variable is drawn from ``r`` (and from impulsiveness or income where a real shopper's habits
would follow them) with noise of its own. Per unit of ``r`` (one standard deviation riskier):

===================================  ==========================================================
feed variable                        how it moves (logit or log scale; ``i``: impulsiveness)
===================================  ==========================================================
account tenure (6–24 months)         log days −0.20·r (sd 0.40); rings 6–8½ months
real-name verified                   logit 2.2 −0.5·r; rings 40%
phone tenure band                    latent −0.5·r + N(0, 1); rings −1.5; a stolen account's
                                     takeover sends a new profile: new phone, one more address
shipping addresses, 12 months        1 + Poisson(exp(−1.2 +0.35·r)); resellers and rings +1
orders a month                       log 2.0 +0.3·i +0.3·log(appetite/0.08) (sd 0.4);
                                     resellers ×2, rings ×0.6 (not a risk signal by itself)
cancelled / failed payment           logit −3.0 +0.45·r / −4.0 +0.55·r (sd 0.3 each); a
                                     financial-stress shock adds 10 points to the
                                     failed-payment chance while it lasts (season and pilot)
returned / refunded                  logit −2.4 +0.25·i +0.1·r / −3.8 +0.1·r (ordinary in
                                     live commerce: weak)
night-time (00:00–05:59 local)       logit −2.8 +0.35·r +0.35·i (sd 0.4)
live-stream share                    logit −1.0 +0.6·i +0.2·r (sd 0.4)
another lender's instalments         logit −2.4 +0.45·r (sd 0.3)
easily resold goods                  logit −3.0 +0.3·r (sd 0.4); resellers ~60%, rings ~45%
everyday goods (of the rest)         logit 0.4 −0.35·r (sd 0.5)
basket                               category price × (income / 6,000 yuan)^0.3 × lognormal(0, 0.5)
payment methods                      1 + Poisson(exp(0.3 +0.2·log(income / 6,000 yuan)))
live-stream minutes a week           watchers (logit 0.6 +0.8·i): lognormal(log 90 +0.5·i +0.1·r)
a change of phone or address         honest shoppers 15% a year (half a new phone, half an
                                     address); 70% of takeovers show one the evening before
===================================  ==========================================================

``RHO`` = 0.55 is what keeps the feed honest: a logistic regression on the feed features alone
ranks first pay-later loans with an AUC near 0.7 (``metrics.feed_only_auc``), the range the
digital-footprint literature reports (Berg et al. 2020: ≈0.70), well under the oracle's.

Consent is drawn too: 88% consent before the season (90% of them to every record type, the rest
without engagement), the others never; 3% of those who consent withdraw on a day in the season.
Consent is independent of the hidden traits here (a knob for later: adverse selection).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from bnpl.sim.population import RESALE, TYPICAL_PRICE, World

RHO = 0.55  # correlation of the feed's view of riskiness with the hidden creditworthiness
CONSENT_SHARE = 0.88
FULL_SCOPE_SHARE = 0.9  # of those who consent: profile, order and engagement (the rest no engagement)
WITHDRAW_SHARE = 0.03  # of those who consent: withdraw on a day in the season
# honest shoppers change their phone number or add an address now and then, and not every
# takeover shows in the marketplace's profile: a contact change is a signal, not a verdict
CONTACT_CHANGES_A_YEAR = 0.15
TAKEOVER_SHOWN = 0.7
STRESS_FAILED = 0.10  # extra chance a payment fails while the shopper is under a stress shock
REFERENCE_INCOME = 6_000_00  # fen a month

EVERYDAY = ("snacks", "tea", "beauty", "home", "groceries", "household")
OTHER = ("apparel", "toys")
PHONE_BANDS = ("lt_6m", "6m_1y", "1y_3y", "3y_plus")
_PHONE_CUTS = (-1.3, -0.5, 0.6)
UTC_OFFSET = {"Asia/Shanghai": 8, "Asia/Urumqi": 6}
OUTCOMES = ("cancelled", "payment_failed", "returned", "refunded", "completed")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1 / (1 + np.exp(-x)))


@dataclass(frozen=True)
class Habits:
    """Per-shopper marketplace habits (hidden, like the traits they are drawn from)."""

    frame: pd.DataFrame  # one row per shopper

    def col(self, name: str) -> np.ndarray:
        return np.asarray(self.frame[name].to_numpy())


def draw_habits(world: World, seed: int, season_days: int) -> Habits:
    """Each shopper's marketplace habits and consent, from their hidden traits and a stream of
    their own (the seed's purpose 17), so the season's other draws are untouched."""
    s = world.shoppers
    n = len(s)
    rng = np.random.default_rng([seed, 0, 17])
    worth, impulse = s["worth"].to_numpy(), s["impulse"].to_numpy()
    income, appetite = s["income"].to_numpy(float), s["appetite"].to_numpy()
    fraud = s["fraud"].to_numpy()
    reseller, ring = fraud == "reseller", fraud == "ring"
    r = -(RHO * worth + np.sqrt(1 - RHO**2) * rng.normal(size=n))
    log_income = np.log(income / REFERENCE_INCOME)

    def noise(sd: float) -> np.ndarray:
        return rng.normal(0, sd, n)

    tenure = np.clip(np.exp(np.log(450) - 0.2 * r + noise(0.4)), 183, 730)
    tenure = np.where(ring, rng.uniform(183, 260, n), tenure)
    phone_latent = -0.5 * r + rng.normal(size=n) - 1.5 * ring
    resale = _sigmoid(-3.0 + 0.3 * r + noise(0.4))
    resale = np.where(
        reseller, _sigmoid(0.4 + noise(0.4)), np.where(ring, _sigmoid(-0.2 + noise(0.4)), resale)
    )
    everyday = (1 - resale) * _sigmoid(0.4 - 0.35 * r + noise(0.5))
    rate = np.exp(np.log(2.0) + 0.3 * impulse + 0.3 * np.log(appetite / 0.08) + noise(0.4))
    rate = rate * np.where(reseller, 2.0, 1.0) * np.where(ring, 0.6, 1.0)
    consent = rng.random(n) < CONSENT_SHARE
    withdraw_u, withdraw_day = rng.random(n), rng.integers(1, max(season_days, 2), n)
    frame = pd.DataFrame(
        {
            "risk": r,
            "tenure_days": np.round(tenure).astype(np.int64),
            "real_name": np.where(ring, rng.random(n) < 0.4, rng.random(n) < _sigmoid(2.2 - 0.5 * r)),
            "phone_band": np.searchsorted(_PHONE_CUTS, phone_latent),
            "addresses": 1 + rng.poisson(np.exp(-1.2 + 0.35 * r)) + (reseller | ring),
            "payment_methods": 1 + rng.poisson(np.exp(0.3 + 0.2 * log_income)),
            "orders_per_30d": rate,
            "p_resale": resale,
            "p_everyday": everyday,
            "p_cancel": _sigmoid(-3.0 + 0.45 * r + noise(0.3)),
            "p_failed": _sigmoid(-4.0 + 0.55 * r + noise(0.3)),
            "p_returned": _sigmoid(-2.4 + 0.25 * impulse + 0.1 * r + noise(0.3)),
            "p_refunded": _sigmoid(-3.8 + 0.1 * r + noise(0.3)),
            "p_night": _sigmoid(-2.8 + 0.35 * r + 0.35 * impulse + noise(0.4)),
            "p_live": _sigmoid(-1.0 + 0.6 * impulse + 0.2 * r + noise(0.4)),
            "p_instalment": _sigmoid(-2.4 + 0.45 * r + noise(0.3)),
            "p_credit_card": _sigmoid(-1.5 + 0.5 * log_income),
            "basket_scale": np.exp(0.3 * log_income),
            "watches": rng.random(n) < _sigmoid(0.6 + 0.8 * impulse),
            "watch_minutes": np.exp(np.log(90) + 0.5 * impulse + 0.1 * r + noise(0.6)),
            "consents": consent,
            "engagement_scope": consent & (rng.random(n) < FULL_SCOPE_SHARE),
            "withdraws_on": np.where(consent & (withdraw_u < WITHDRAW_SHARE), withdraw_day, -1),
            "timezone": s["timezone"].to_numpy(),
        }
    )
    # drawn after everything above, so the draws before them are what they were
    frame["change_day"] = rng.geometric(CONTACT_CHANGES_A_YEAR / 365, n) - 1  # days from the start
    frame["change_phone"] = rng.random(n) < 0.5  # else one more address
    frame["takeover_shown"] = rng.random(n) < TAKEOVER_SHOWN
    return Habits(frame)


def draw_orders(
    rng: np.random.Generator,
    habits: Habits,
    who: np.ndarray,
    last_day: date,
    days: np.ndarray,
    stressed: np.ndarray | None = None,
    stressed_days: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Orders paid by other means for shoppers ``who``, each over its own number of local days
    ``days`` ending on ``last_day`` (vectorised): counts, days and hours, categories, channels,
    amounts, payment kinds and outcomes from their habits. ``stressed``: under a stress shock
    (failed payments more likely); or ``stressed_days``: under one for that many of the last
    local days (0: not). Times are UTC."""
    h = habits.frame
    rate = h["orders_per_30d"].to_numpy()[who] / 30
    counts = rng.poisson(rate * days)
    shopper = np.repeat(who, counts)
    k = len(shopper)
    span = np.repeat(days, counts)
    day = -np.floor(rng.random(k) * span).astype(np.int64)  # local days before last_day

    def of(name: str) -> np.ndarray:
        return np.asarray(h[name].to_numpy()[shopper])

    night = rng.random(k) < of("p_night")
    hour = np.where(night, rng.integers(0, 6, k), rng.integers(8, 24, k))
    minute = rng.integers(0, 60, k)
    offset = np.array([UTC_OFFSET.get(z, 8) for z in of("timezone")], dtype=np.int64)
    base = datetime.combine(last_day, datetime.min.time(), tzinfo=UTC)
    seconds = day * 86_400 + (hour - offset) * 3_600 + minute * 60 + rng.integers(0, 60, k)
    at = np.array([base + timedelta(seconds=int(x)) for x in seconds], dtype=object)

    u = rng.random(k)
    resale, everyday = of("p_resale"), of("p_everyday")
    pick = rng.random(k)
    category = np.where(
        u < resale,
        np.array(RESALE)[(pick * len(RESALE)).astype(int)],
        np.where(
            u < resale + everyday,
            np.array(EVERYDAY)[(pick * len(EVERYDAY)).astype(int)],
            np.array(OTHER)[(pick * len(OTHER)).astype(int)],
        ),
    )
    price = np.array([TYPICAL_PRICE[c] for c in category], dtype=float)
    amount = np.maximum(np.round(price * of("basket_scale") * np.exp(rng.normal(0, 0.5, k))), 100)
    v = rng.random(k)
    live = of("p_live")
    channel = np.where(v < live, "live_stream", np.where(v < live + (1 - live) * 0.35, "short_video", "mall"))
    return {
        "shopper": shopper,
        "at": at,
        "category": category,
        "channel": channel,
        "amount": amount.astype(np.int64),
        "payment_kind": _payment_kinds(rng, of),
        "outcome": _outcomes(rng, of, _stressed_orders(counts, day, stressed, stressed_days)),
    }


def _stressed_orders(
    counts: np.ndarray, day: np.ndarray, stressed: np.ndarray | None, stressed_days: np.ndarray | None
) -> np.ndarray | None:
    """Per order: placed under a stress shock (``day``: local days before the last, ≤ 0)."""
    if stressed_days is not None:
        return np.asarray(-day < np.repeat(stressed_days, counts))
    return None if stressed is None else np.repeat(stressed, counts)


def _payment_kinds(rng: np.random.Generator, of: Any) -> np.ndarray:
    instalment, credit = of("p_instalment"), of("p_credit_card")
    k = len(instalment)
    u = rng.random(k)
    rest = (1 - instalment) * (1 - credit)
    return np.where(
        u < instalment,
        "instalment",
        np.where(
            u < instalment + (1 - instalment) * credit,
            "credit_card",
            np.where(
                u < 1 - rest * 0.95,
                "cash_on_delivery",
                np.where(u < 1 - rest * 0.7, "debit_card", "wallet"),
            ),
        ),
    )


def _outcomes(rng: np.random.Generator, of: Any, stressed: np.ndarray | None) -> np.ndarray:
    cancel, failed = of("p_cancel"), of("p_failed")
    if stressed is not None:
        failed = np.where(stressed, np.minimum(failed + STRESS_FAILED, 0.9), failed)
    returned, refunded = of("p_returned"), of("p_refunded")
    u = rng.random(len(cancel))
    edges = np.cumsum(np.vstack([cancel, failed, returned, refunded]), axis=0)
    index = (u[None, :] >= edges).sum(axis=0)
    return np.asarray(np.array(OUTCOMES)[index])


def engagement_minutes(rng: np.random.Generator, habits: Habits, who: np.ndarray) -> np.ndarray:
    """One week's live-stream minutes for ``who`` (0 for those who do not watch)."""
    h = habits.frame
    minutes = h["watch_minutes"].to_numpy()[who] * np.exp(rng.normal(0, 0.3, len(who)))
    return np.where(h["watches"].to_numpy()[who], np.clip(np.round(minutes), 0, 7 * 24 * 60), 0).astype(
        np.int64
    )
