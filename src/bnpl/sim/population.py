"""The simulated marketplace's people and shops, with the traits the platform never sees.

Shoppers have an income, a spending appetite, impulsiveness, a hidden creditworthiness and a
proneness to financial-stress shocks; a small share are fraudsters — resellers (they buy to resell
and rarely pay), stolen accounts (a fraudster takes over a good account for a burst) and cash-out
rings (套现: several accounts sharing devices and addresses, buying fake orders from a colluding
merchant). Merchants sell in categories at a typical price, with a return rate and a quality;
creators run live streams and short videos that bring bursts of impulse purchases.

Generated from a seed with numpy only: the same seed gives the same world, and no person in it is
real. The simulator (issue 6) drives the real services with it; :func:`default_probability` is the
true probability of default of one loan, so a model's AUC can be set against the oracle's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CATEGORIES = ("beauty", "apparel", "snacks", "tea", "home", "toys", "phones", "gold", "gift_cards")
FRAUD_KINDS = ("none", "reseller", "stolen", "ring")
RESALE = ("phones", "gold", "gift_cards")  # easily resold goods: what resellers and thieves buy
STRESS_DAYS = 45  # how long a financial-stress shock lasts


@dataclass(frozen=True)
class WorldShape:
    """How the world is drawn; the defaults are a plausible live-stream marketplace."""

    merchants_per_1000: float = 8.0
    creators_per_1000: float = 4.0
    reseller_share: float = 0.006
    stolen_share: float = 0.004
    ring_share: float = 0.006  # customers in cash-out rings
    ring_size: int = 6
    colluding_merchant_share: float = 0.03

    def __post_init__(self) -> None:
        shares = (self.reseller_share, self.stolen_share, self.ring_share, self.colluding_merchant_share)
        if any(not 0 <= s < 0.5 for s in shares) or sum(shares[:3]) >= 0.5:
            raise ValueError("fraud shares are between 0 and 0.5, and together under 0.5")
        if self.ring_size < 3 or self.merchants_per_1000 <= 0 or self.creators_per_1000 <= 0:
            raise ValueError("ring_size is at least 3; merchants and creators per 1000 are positive")


@dataclass(frozen=True)
class World:
    shoppers: pd.DataFrame  # one row per shopper; hidden traits included
    merchants: pd.DataFrame
    creators: pd.DataFrame


def generate(customers: int, seed: int, shape: WorldShape = WorldShape()) -> World:
    if customers < 10:
        raise ValueError("a world needs at least 10 customers")
    rng = np.random.default_rng(seed)
    n = customers
    worth = rng.normal(size=n)  # hidden creditworthiness
    impulse = rng.normal(size=n)
    income = np.round(np.exp(rng.normal(np.log(6_000_00) + 0.25 * worth, 0.5, n))).astype(
        np.int64
    )  # fen/month
    appetite = np.clip(rng.lognormal(np.log(0.08) + 0.2 * impulse, 0.4, n), 0.01, 0.6)  # share of income
    stress_rate = np.clip(rng.beta(1.2, 30, n) * (1.5 - 0.4 * np.tanh(worth)), 0, 0.2)  # shocks per month

    fraud = np.full(n, "none", dtype=object)
    order = rng.permutation(n)
    counts = [round(n * s) for s in (shape.reseller_share, shape.stolen_share, shape.ring_share)]
    start = 0
    for kind, count in zip(("reseller", "stolen", "ring"), counts, strict=True):
        fraud[order[start : start + count]] = kind
        start += count
    ring = np.full(n, -1, dtype=np.int64)
    ring_members = np.flatnonzero(fraud == "ring")
    ring[ring_members] = np.arange(len(ring_members)) // shape.ring_size

    # devices and addresses: one each, except that a ring shares a few among its members
    device = np.array([f"dev-{seed}-{i}" for i in range(n)], dtype=object)
    address = np.array([f"addr-{seed}-{i}" for i in range(n)], dtype=object)
    for r in np.unique(ring[ring >= 0]):
        members = np.flatnonzero(ring == r)
        device[members] = [f"dev-ring-{seed}-{r}-{k % 2}" for k in range(len(members))]
        address[members] = f"addr-ring-{seed}-{r}"

    shoppers = pd.DataFrame(
        {
            "worth": worth,
            "impulse": impulse,
            "income": income,
            "appetite": appetite,
            "stress_rate": stress_rate,
            "fraud": fraud.astype(str),
            "ring": ring,
            "device_id": device.astype(str),
            "address": address.astype(str),
            "timezone": np.where(rng.random(n) < 0.97, "Asia/Shanghai", "Asia/Urumqi"),
        }
    )

    # every category has a shop, however small the world; the rest follow the category mix
    m = max(len(CATEGORIES), round(n * shape.merchants_per_1000 / 1000))
    drawn = rng.choice(CATEGORIES, size=m - len(CATEGORIES), p=_category_weights())
    category = rng.permutation(np.concatenate([np.array(CATEGORIES), drawn]))
    price = np.round(np.exp(rng.normal(np.log(_typical_price(category)), 0.35))).astype(np.int64)
    colluding = rng.random(m) < shape.colluding_merchant_share
    colluding[rng.integers(m)] |= bool(len(ring_members))  # a ring always has a merchant to use
    merchants = pd.DataFrame(
        {
            "category": category.astype(str),
            "price": np.maximum(price, 1_00),
            "return_rate": np.clip(rng.beta(2, 12, m) + 0.1 * (category == "apparel"), 0, 0.6),
            "quality": rng.beta(6, 2, m),
            "colluding": colluding,
        }
    )

    c = max(2, round(n * shape.creators_per_1000 / 1000))
    creators = pd.DataFrame(
        {
            "followers": np.round(np.exp(rng.normal(np.log(20_000), 1.3, c))).astype(np.int64),
            "live_share": rng.beta(2, 2, c),  # live streams versus short videos
            "hype": rng.gamma(2.0, 0.5, c),  # how strongly a stream pushes impulse purchases
            "merchant": rng.integers(0, m, c),
        }
    )
    return World(shoppers, merchants, creators)


def _category_weights() -> np.ndarray:
    w = np.array([0.2, 0.22, 0.16, 0.08, 0.14, 0.08, 0.06, 0.03, 0.03])
    return np.asarray(w / w.sum())


# a typical item's price by category, in fen (the marketplace's own categories are priced too)
TYPICAL_PRICE = {
    "beauty": 129_00,
    "apparel": 159_00,
    "snacks": 49_00,
    "tea": 168_00,
    "home": 99_00,
    "toys": 89_00,
    "phones": 2_499_00,
    "gold": 1_800_00,
    "gift_cards": 500_00,
    "groceries": 59_00,
    "household": 69_00,
}


def _typical_price(category: np.ndarray) -> np.ndarray:
    return np.array([TYPICAL_PRICE[c] for c in category], dtype=float)


def fraud_targets(merchants: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The merchants fraud shops at, as indices: the colluding ones and those of easily resold goods."""
    return (
        np.flatnonzero(merchants["colluding"].to_numpy()),
        np.flatnonzero(merchants["category"].isin(RESALE).to_numpy()),
    )


def fraud_merchant(
    targets: tuple[np.ndarray, np.ndarray],
    kind: np.ndarray,
    merchant: np.ndarray,
    ring_pick: np.ndarray,
    resale_pick: np.ndarray,
) -> np.ndarray:
    """Where each checkout is made (vectorised): a ring's at a colluding merchant, a reseller's or a
    thief's at one of easily resold goods (``targets``: ``fraud_targets``; the picks: drawn
    non-negative integers), anyone else's at ``merchant``."""
    colluding, resale = targets
    if len(colluding):
        merchant = np.where(kind == "ring", colluding[ring_pick % len(colluding)], merchant)
    if len(resale):
        merchant = np.where(
            np.isin(kind, ["reseller", "stolen"]), resale[resale_pick % len(resale)], merchant
        )
    return merchant


def basket(
    price: np.ndarray, kind: np.ndarray, two_u: np.ndarray, noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each checkout's unit price and quantity (vectorised): the merchant's typical ``price`` times
    ``noise``, in whole yuan; two items for 15% (``two_u`` uniform); a ring's fake order and a
    thief's burst at double the price."""
    unit = np.maximum(np.round(price * noise / 100) * 100, 100).astype(np.int64)
    unit = np.where(np.isin(kind, ["stolen", "ring"]), unit * 2, unit)
    return unit, np.where(two_u < 0.15, 2, 1)


def default_probability(
    worth: np.ndarray,
    income: np.ndarray,
    amount: np.ndarray,
    fraud: np.ndarray,
    stressed: np.ndarray,
) -> np.ndarray:
    """The true probability that a loan of ``amount`` fen is never repaid, for shoppers with these
    hidden traits (vectorised): low worth, a large loan for the income and a stress shock raise it;
    resellers and rings rarely pay, a stolen account's burst never does."""
    burden = np.log1p(amount / np.maximum(income, 1))
    logit = -3.9 - 1.1 * worth + 2.2 * burden + 1.4 * stressed.astype(float)
    pd_ = 1 / (1 + np.exp(-logit))
    pd_ = np.where(fraud == "reseller", np.maximum(pd_, 0.55), pd_)
    pd_ = np.where(fraud == "ring", np.maximum(pd_, 0.8), pd_)
    return np.where(fraud == "stolen", 0.97, pd_)
