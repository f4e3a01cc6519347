"""Buckets, capped late fees, funding cost and field-visit rules: pure functions, property-tested."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bnpl.domain.delinquency import (
    CollectionsPolicy,
    LateFeePolicy,
    OrderCost,
    bucket_for,
    cost_cap,
    funding_cost,
    late_fee,
)
from bnpl.domain.field_visits import (
    CONDUCT,
    CaseFacts,
    Crew,
    approval_problems,
    breaches,
    outcome_problems,
    request_problems,
)

DAY = date(2026, 6, 1)


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [
        (-5, "current"),
        (0, "current"),
        (1, "M1"),
        (30, "M1"),
        (31, "M2"),
        (60, "M2"),
        (61, "M3"),
        (90, "M3"),
        (91, "M3+"),
    ],
)
def test_buckets_at_their_edges(dpd: int, bucket: str) -> None:
    assert bucket_for(dpd) == bucket


def order(
    past_due: int = 100_000, dpd: int = 10, cost: int = 0, days: int = 60, paused: bool = False
) -> OrderCost:
    return OrderCost(
        financed=100_000,
        captured_on=DAY - timedelta(days=days),
        cost_so_far=cost,
        past_due=past_due,
        dpd=dpd,
        paused=paused,
    )


def test_no_fee_in_the_grace_days_then_the_daily_rate_floored() -> None:
    policy = LateFeePolicy(grace_days=3, daily_bps=5, fixed_fee=0)
    assert late_fee(order(dpd=3), DAY, policy) == 0
    assert late_fee(order(dpd=4, past_due=99_999), DAY, policy) == 49  # 49.9995 floored
    assert late_fee(order(dpd=4, past_due=100_000), DAY, policy) == 50


def test_the_fixed_fee_comes_once_on_the_first_day_after_grace() -> None:
    policy = LateFeePolicy(grace_days=3, daily_bps=5, fixed_fee=1_000)
    assert late_fee(order(dpd=4), DAY, policy) == 1_050
    assert late_fee(order(dpd=5), DAY, policy) == 50


def test_paused_orders_pay_no_fee() -> None:
    assert late_fee(order(paused=True), DAY, LateFeePolicy()) == 0


def test_the_cap_is_the_lower_of_the_annual_rate_and_the_share() -> None:
    policy = LateFeePolicy(annual_cap_bps=2_400, order_share_cap_bps=2_500)
    assert cost_cap(100_000, 365, policy) == 24_000  # 24% a year on 1,000 yuan
    assert cost_cap(100_000, 30, policy) == 100_000 * 2_400 * 30 // (365 * 10_000)
    assert cost_cap(100_000, 3_650, policy) == 25_000  # the share binds after long enough


@given(
    past_due=st.integers(0, 10**8),
    dpd=st.integers(-10, 400),
    cost=st.integers(0, 10**7),
    days=st.integers(0, 800),
    daily=st.integers(0, 100),
    fixed=st.integers(0, 10_000),
)
def test_a_fee_never_takes_the_cost_of_credit_past_its_cap(
    past_due: int, dpd: int, cost: int, days: int, daily: int, fixed: int
) -> None:
    policy = LateFeePolicy(daily_bps=daily, fixed_fee=fixed)
    o = order(past_due=past_due, dpd=dpd, cost=cost, days=days)
    fee = late_fee(o, DAY, policy)
    assert type(fee) is int and fee >= 0
    assert fee == 0 or cost + fee <= cost_cap(o.financed, days, policy)
    assert fee <= past_due * daily // 10_000 + fixed


@given(receivables=st.integers(0, 10**12), bps=st.integers(0, 5_000))
def test_funding_cost_is_the_daily_rate_rounded_half_up(receivables: int, bps: int) -> None:
    exact = receivables * bps / (365 * 10_000)
    assert abs(funding_cost(receivables, bps) - exact) <= 0.5


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="daily_bps"):
        LateFeePolicy(daily_bps=500)
    with pytest.raises(ValueError, match="charge_off_dpd"):
        CollectionsPolicy(charge_off_dpd=10)
    with pytest.raises(ValueError, match="field visits"):
        CollectionsPolicy(visit_min_bucket="current")


# --- field visits ---------------------------------------------------------------------------------

POLICY = CollectionsPolicy()


def test_a_visit_needs_the_bucket_the_balance_room_this_month_and_an_address() -> None:
    ok = CaseFacts("open", "M2", 60_000, 0, True)
    assert request_problems(ok, POLICY) == []
    problems = request_problems(CaseFacts("closed", "M1", 10_000, 2, False), POLICY)
    assert len(problems) == 5  # every problem at once, not just the first
    assert any("M2" in p for p in problems) and any("registered address" in p for p in problems)
    assert request_problems(CaseFacts("open", "M3+", 50_000, 1, True), POLICY) == []


def test_approval_needs_two_different_field_agents_and_notice() -> None:
    slot = datetime(2026, 6, 3, 10, tzinfo=UTC)
    roles = {1: "field_agent", 2: "field_agent", 3: "agent"}
    assert approval_problems(Crew(1, 2, roles), slot, DAY, POLICY) == []
    assert "two different agents" in approval_problems(Crew(1, 1, roles), slot, DAY, POLICY)[0]
    assert "not a field agent" in approval_problems(Crew(1, 3, roles), slot, DAY, POLICY)[0]
    assert "unknown or inactive" in approval_problems(Crew(1, 9, roles), slot, DAY, POLICY)[0]
    late = approval_problems(Crew(1, 2, roles), slot - timedelta(days=1), DAY, POLICY)
    assert late and "at least 2 days" in late[0]


def test_every_conduct_item_must_be_answered_and_a_no_is_a_breach() -> None:
    all_yes = dict.fromkeys(CONDUCT, True)
    assert outcome_problems("met", all_yes) == []
    assert breaches(all_yes) == []
    missing = {k: True for k in list(CONDUCT)[1:]}
    assert "missing" in outcome_problems("met", missing)[0]
    assert "outcome must be" in outcome_problems("chatted", all_yes)[0]
    entered = {**all_yes, "consent_to_enter": False}
    assert outcome_problems("met", entered) == []  # recorded as it happened ...
    assert breaches(entered) == ["consent_to_enter"]  # ... and reported
