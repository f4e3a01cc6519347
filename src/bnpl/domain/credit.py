"""Credit policy: grades from a calibrated probability of default, limits, the starter policy.

Pure rules over numbers a model has already produced. A grade (A best … E worst) is a band of
probability of default (PD); the grade sets eligibility, the largest single order, and the starting
limit, which is also bounded by what the customer is observed to spend. The periodic limit review
raises a clean payer's line a step at a time and cuts it when the score deteriorates, but never
below what is already in use: then the line is held at that amount and available credit is zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bnpl.domain.orders import RESALE_CATEGORIES

CREDIT_POLICY_VERSION = "credit-1"


class Grade(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"


@dataclass(frozen=True, slots=True)
class GradeBand:
    grade: Grade
    max_pd: float  # PD strictly below this falls in the band (the last band takes the rest)
    eligible: bool
    max_order: int  # fen: the largest single order this grade may check out
    limit_cap: int  # fen: the highest limit this grade may hold
    first_limit: int = 0  # fen: the least a new shopper of this grade opens with (see first_limit)
    # the per-order caps on easily resold goods (DecisionPolicy.category_caps) guard shoppers the
    # platform knows little about; a grade this good is bounded by its own max_order instead
    lifts_category_caps: bool = False


# PD bands for a portfolio whose average 90-day default rate is a few percent. Each step roughly
# doubles the risk. E is refused: above 25% PD the expected loss exceeds what MDR and fees earn.
DEFAULT_BANDS: tuple[GradeBand, ...] = (
    GradeBand(Grade.A, 0.03, True, 2_000_000, 2_000_000, 500_000, True),
    GradeBand(Grade.B, 0.06, True, 1_000_000, 1_000_000, 300_000, True),
    GradeBand(Grade.C, 0.12, True, 500_000, 500_000, 150_000),
    GradeBand(Grade.D, 0.25, True, 150_000, 200_000, 50_000),
    GradeBand(Grade.E, 1.01, False, 0, 0),
)


@dataclass(frozen=True, slots=True)
class CreditPolicy:
    bands: tuple[GradeBand, ...] = DEFAULT_BANDS
    # thin file: fewer bills than this have fallen due (orders alone are no repayment history)
    thin_file_min_bills: int = 1
    starter_limit: int = 50_000  # 500 yuan: what a customer with no history may have in use
    starter_blocked_categories: frozenset[str] = RESALE_CATEGORIES
    capacity_months: int = 3  # a limit is at most this many months of observed spending...
    minimum_limit: int = 50_000  # ...but never below the starter limit for an eligible grade
    limit_step: int = 10_000  # limits are whole hundreds of yuan
    raise_share_bps: int = 2_000  # a review raises a clean line by 20%...
    raise_every_days: int = 30  # ...at most once in this many days, however often the job runs
    clean_min_bills: int = 3  # bills paid on time before a raise

    def __post_init__(self) -> None:
        cuts = [b.max_pd for b in self.bands]
        if not self.bands or cuts != sorted(cuts) or len(set(cuts)) != len(cuts) or cuts[-1] <= 1.0:
            raise ValueError("grade bands must have strictly increasing PD cuts, the last above 1")
        if min(self.starter_limit, self.minimum_limit, self.limit_step) <= 0:
            raise ValueError("starter limit, minimum limit and limit step must be positive")

    def band(self, pd: float) -> GradeBand:
        if not 0.0 <= pd <= 1.0:
            raise ValueError(f"a probability of default is between 0 and 1, not {pd}")
        return next(b for b in self.bands if pd < b.max_pd)

    def band_of(self, grade: Grade | str) -> GradeBand:
        return next(b for b in self.bands if b.grade == grade)


def is_thin_file(features: Mapping[str, float], policy: CreditPolicy, feed_scored: bool = False) -> bool:
    """Too little known for a score to mean much: no bill has fallen due yet, so nothing shows how
    the customer repays, and the score does not read the marketplace's data about them either (no
    consent, no data, or a model that does not read the feed). The starter policy guards these."""
    return features.get("obligations_due", 0) < policy.thin_file_min_bills and not feed_scored


@dataclass(frozen=True, slots=True)
class CreditReason:
    """Why a score is not higher: one feature that cost points, in words a customer can read."""

    feature: str
    en: str
    zh: str


@dataclass(frozen=True, slots=True)
class CreditAssessment:
    """What the champion model said about a customer at checkout, and what the policy makes of it."""

    model_version: str
    pd: float
    score: int
    grade: Grade
    thin_file: bool
    reasons: tuple[CreditReason, ...] = ()
    shadow: Mapping[str, float] = field(default_factory=dict)  # shadow model version -> PD
    feed_status: str | None = None  # the marketplace feed's status (FeedStatus), None: not read


def lifts_category_caps(credit: CreditAssessment | None, policy: CreditPolicy) -> bool:
    """Whether the caps on easily resold goods (and the rules that guard them) give way to the
    grade's own largest order: only for a shopper scored on real evidence into a good grade."""
    return credit is not None and not credit.thin_file and policy.band(credit.pd).lifts_category_caps


def _floor(amount: int, step: int) -> int:
    return max(0, amount // step * step)


def initial_limit(grade: Grade | str, monthly_spend: int, policy: CreditPolicy = CreditPolicy()) -> int:
    """A line's first limit: the grade's cap, bounded by a few months of observed spending, never
    below the grade's first limit (or the policy's minimum). A shopper new to pay-later has no
    spending of their own here yet, and what the marketplace shows them spend elsewhere is no
    measure of income: the grade, which reads it among much else, sets where the line starts."""
    band = policy.band_of(grade)
    if not band.eligible:
        return 0
    floor = max(policy.minimum_limit, band.first_limit)
    capacity = max(floor, policy.capacity_months * max(0, monthly_spend))
    return _floor(min(band.limit_cap, capacity), policy.limit_step)


@dataclass(frozen=True, slots=True)
class LimitReview:
    new_limit: int
    change: str  # assign | raise | cut | hold | keep
    reason: str


def review_limit(
    *,
    limit: int,
    in_use: int,
    grade: Grade | str,
    monthly_spend: int,
    bills_due: int,
    on_time_ratio: float,
    current_dpd: int,
    max_dpd_365d: int,
    days_since_raise: int | None = None,
    limit_given: bool = True,
    policy: CreditPolicy = CreditPolicy(),
) -> LimitReview:
    """The periodic review of one line. ``in_use`` is outstanding plus holds: never cut below it.
    A line never given a limit (``limit_given`` false) gets its first one by grade and observed
    spending; a raise waits ``raise_every_days`` after the last (``days_since_raise``; None: never),
    so running the job twice raises nothing twice."""
    band = policy.band_of(grade)
    if not limit_given and limit == 0 and in_use == 0 and current_dpd == 0:
        first = initial_limit(grade, monthly_spend, policy)
        if first:
            return LimitReview(first, "assign", f"grade {band.grade}: first limit from spending")
    if current_dpd > 0:
        # an overdue line is frozen by the account state; the limit itself waits for the cure
        return LimitReview(limit, "keep", "overdue: frozen, not reviewed")
    if limit > band.limit_cap:
        target = _floor(band.limit_cap, policy.limit_step)
        if target < in_use:
            return LimitReview(in_use, "hold", f"grade {band.grade}: cut held at the amount in use")
        return LimitReview(target, "cut", f"grade {band.grade}: above the grade's cap")
    clean = bills_due >= policy.clean_min_bills and on_time_ratio >= 1.0 and max_dpd_365d == 0
    rested = days_since_raise is None or days_since_raise >= policy.raise_every_days
    if clean and rested and band.eligible:
        raised = limit + limit * policy.raise_share_bps // 10_000
        ceiling = max(
            limit, min(band.limit_cap, max(policy.minimum_limit, policy.capacity_months * monthly_spend))
        )
        target = _floor(min(raised, ceiling), policy.limit_step)
        if target > limit:
            return LimitReview(target, "raise", f"grade {band.grade}: {bills_due} bills paid on time")
    return LimitReview(limit, "keep", f"grade {band.grade}: no change")


def monthly_spend(features: Mapping[str, float]) -> int | None:
    """Observed spending per month in fen: pay-later purchases over the account's life up to a
    year, plus what the marketplace feed shows kept of orders paid by other means; None before a
    bill has fallen due (a first basket says nothing of a month, and spending elsewhere alone is
    no measure of what a shopper can repay: their grade sets the first line)."""
    feed = max(0.0, features.get("mkt_spend_per_30d_12m", 0.0))
    if features.get("obligations_due", 0) <= 0:
        return None
    days = min(365.0, max(30.0, features.get("account_age_days", 0.0)))
    return int(features.get("gmv_365d", 0.0) * 30 / days + feed)


def first_limit(
    credit: CreditAssessment, monthly_spend: int | None, policy: CreditPolicy = CreditPolicy()
) -> int:
    """The limit a line never given one opens with at its first checkout: the starter limit for a
    thin file, otherwise the grade's (``initial_limit``)."""
    if credit.thin_file:
        return policy.starter_limit
    return initial_limit(credit.grade, monthly_spend or 0, policy)
