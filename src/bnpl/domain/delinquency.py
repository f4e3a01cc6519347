"""Delinquency rules: buckets by days past due, capped late fees, charge-off and funding cost.

Pure functions that end of day applies to every overdue order at once. A late fee is charged on
what is past due on the instalments (never on earlier late fees), and the customer's whole cost of
credit on an order — instalment fees and late fees together — never exceeds the lower of two caps:
an annualised rate on the amount financed, and a share of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

BUCKETS = ("current", "M1", "M2", "M3", "M3+")
CHARGED_OFF = "CO"  # where an account rolls, in the roll rates, the day after it was charged off
# the first day past due of each overdue bucket
BUCKET_STARTS = (("M3+", 91), ("M3", 61), ("M2", 31), ("M1", 1))


def bucket_for(dpd: int) -> str:
    """current (not past due), M1 1–30, M2 31–60, M3 61–90, M3+ 91 and more days past due."""
    for bucket, first_day in BUCKET_STARTS:
        if dpd >= first_day:
            return bucket
    return "current"


def bucket_rank(bucket: str) -> int:
    if bucket not in BUCKETS:
        raise ValueError(f"unknown bucket {bucket!r}; buckets are {', '.join(BUCKETS)}")
    return BUCKETS.index(bucket)


@dataclass(frozen=True, slots=True)
class LateFeePolicy:
    grace_days: int = 3  # no fee in the first days past due
    daily_bps: int = 5  # 0.05% of the past-due amount per day
    fixed_fee: int = 0  # fen, once, on the first day after the grace period
    annual_cap_bps: int = 2_400  # the whole cost of credit on an order, as a simple annual rate
    order_share_cap_bps: int = 2_500  # ... and as a share of the amount financed

    def __post_init__(self) -> None:
        if not 0 <= self.grace_days <= 60:
            raise ValueError("grace_days must be 0-60")
        if not 0 <= self.daily_bps <= 100 or self.fixed_fee < 0:
            raise ValueError("daily_bps must be 0-100 (1%/day) and fixed_fee at least 0")
        if not 0 <= self.annual_cap_bps <= 3_600 or not 0 <= self.order_share_cap_bps <= 10_000:
            raise ValueError("annual_cap_bps must be 0-3600 and order_share_cap_bps 0-10000")


@dataclass(frozen=True, slots=True)
class OrderCost:
    """One overdue order as end of day sees it."""

    financed: int  # the order amount less what was returned
    captured_on: date
    cost_so_far: int  # instalment fees and late fees charged so far, paid or not
    past_due: int  # unpaid instalment principal and fee past due
    dpd: int  # days past due of its oldest unpaid instalment
    paused: bool  # a pending return or an open dispute


def cost_cap(financed: int, days: int, policy: LateFeePolicy) -> int:
    """The most an order may cost the customer after ``days`` since it was financed (floored)."""
    by_rate = financed * policy.annual_cap_bps * max(days, 0) // (365 * 10_000)
    by_share = financed * policy.order_share_cap_bps // 10_000
    return min(by_rate, by_share)


def late_fee(order: OrderCost, today: date, policy: LateFeePolicy) -> int:
    """Today's late fee on one order (fen, floored: rounding never costs the customer)."""
    if order.paused or order.past_due <= 0 or order.dpd <= policy.grace_days:
        return 0
    fee = order.past_due * policy.daily_bps // 10_000
    if order.dpd == policy.grace_days + 1:
        fee += policy.fixed_fee
    room = cost_cap(order.financed, (today - order.captured_on).days, policy) - order.cost_so_far
    return max(0, min(fee, room))


@dataclass(frozen=True, slots=True)
class CollectionsPolicy:
    late_fees: LateFeePolicy = LateFeePolicy()
    charge_off_dpd: int = 180
    funding_annual_bps: int = 450  # the cost of the funding facility on receivables outstanding
    visit_min_bucket: str = "M2"  # field visits only at or past this bucket ...
    visit_min_balance: int = 50_000  # ... and with at least this much overdue (fen)
    visits_per_case_per_month: int = 2
    visit_notice_days: int = 2  # the customer is told of a visit at least this many days before
    visit_cost: int = 8_000  # fen per visit, posted as collection cost

    def __post_init__(self) -> None:
        if not 30 <= self.charge_off_dpd <= 720:
            raise ValueError("charge_off_dpd must be 30-720")
        if not 0 <= self.funding_annual_bps <= 5_000:
            raise ValueError("funding_annual_bps must be 0-5000")
        if bucket_rank(self.visit_min_bucket) < bucket_rank("M1"):
            raise ValueError("field visits need an overdue bucket (M1 or later)")
        if self.visit_min_balance < 0 or self.visit_cost < 0 or self.visits_per_case_per_month < 0:
            raise ValueError("visit_min_balance, visit_cost and visits_per_case_per_month must be >= 0")
        if not 1 <= self.visit_notice_days <= 30:
            raise ValueError("visit_notice_days must be 1-30")


def funding_cost(receivables: int, annual_bps: int) -> int:
    """One day's funding cost on ``receivables`` fen, rounded half up."""
    return (receivables * annual_bps * 2 + 365 * 10_000) // (2 * 365 * 10_000)
