"""Money, schedules and APR: properties over many amounts, plus worked examples."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bnpl.domain.errors import CurrencyMismatch, InvalidAmount, InvalidInput
from bnpl.domain.money import Money, apply_rate, format_fen, parse_yuan, split_evenly
from bnpl.domain.plans import PLANS, add_months, apr, build_schedule, get_plan, plan_fee

amounts = st.integers(min_value=1, max_value=10**10)
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


def test_money_refuses_floats_and_mixed_currencies() -> None:
    with pytest.raises(InvalidAmount):
        Money(1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        Money(True)
    with pytest.raises(CurrencyMismatch):
        Money(1, "USD")
    assert str(Money(-12345)) == "-123.45 CNY"
    assert Money(5) + Money(7) - Money(2) == Money(10)


def test_rates_round_half_up_to_the_fen() -> None:
    assert apply_rate(250, Decimal("0.01")) == 3  # 2.5 fen -> 3
    assert apply_rate(249, Decimal("0.01")) == 2


@given(total=st.integers(min_value=0, max_value=10**12), parts=st.integers(min_value=1, max_value=36))
def test_split_evenly_keeps_every_fen_and_puts_the_remainder_last(total: int, parts: int) -> None:
    shares = split_evenly(total, parts)
    assert sum(shares) == total and len(shares) == parts
    assert len(set(shares[:-1])) <= 1
    assert 0 <= shares[-1] - shares[0] < parts


@given(principal=amounts, code=st.sampled_from(sorted(PLANS)), trial_end=days)
def test_schedules_are_exact_to_the_fen(principal: int, code: str, trial_end: date) -> None:
    plan = get_plan(code)
    schedule = build_schedule(plan, principal, trial_end)
    assert len(schedule) == plan.instalments
    assert sum(i.principal for i in schedule) == principal
    assert sum(i.fee for i in schedule) == plan_fee(plan, principal)
    assert [i.seq for i in schedule] == list(range(1, plan.instalments + 1))
    dates = [i.due_date for i in schedule]
    assert dates == sorted(dates) and len(set(dates)) == len(dates)
    assert dates[0] == trial_end + timedelta(days=plan.first_due_offset_days)
    assert all(i.principal >= 0 and i.fee >= 0 for i in schedule)


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)


@given(principal=st.integers(min_value=100, max_value=10**9), code=st.sampled_from(["m3", "m6", "m12"]))
def test_apr_discounts_the_payments_back_to_the_principal(principal: int, code: str) -> None:
    start = date(2026, 1, 1)
    schedule = build_schedule(get_plan(code), principal, start + timedelta(days=7))
    rate = apr(principal, schedule, start)
    if sum(i.fee for i in schedule) == 0:
        assert rate == 0
        return
    pv = sum(Decimal(i.total) / (1 + rate) ** (Decimal((i.due_date - start).days) / 365) for i in schedule)
    assert abs(pv - principal) <= Decimal(principal) * Decimal("0.0002") + 1


def test_longer_plans_cost_more_in_fees_but_not_always_in_apr() -> None:
    start = date(2026, 1, 1)
    fees = [plan_fee(get_plan(c), 1200_00) for c in ("m3", "m6", "m12")]
    assert fees == sorted(fees) and fees[0] > 0
    aprs = [apr(1200_00, build_schedule(get_plan(c), 1200_00, start), start) for c in ("m3", "m6", "m12")]
    assert all(Decimal("0.05") < a < Decimal("0.24") for a in aprs)
    assert apr(1200_00, build_schedule(get_plan("pay_after_trial"), 1200_00, start), start) == 0


def test_unknown_plan_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="unknown plan"):
        get_plan("m7")


def test_one_spelling_per_category() -> None:
    from bnpl.domain.orders import category_key

    for spelling in ("Gift Cards", "gift-cards", " GIFT__CARDS ", "ｇｉｆｔ＿ｃａｒｄｓ", "gift_cards"):
        assert category_key(spelling) == "gift_cards"
    assert category_key("茶叶 礼盒") == "茶叶_礼盒"


@given(st.integers(0, 999_999_999_99))
def test_yuan_as_typed_reads_back_the_fen_that_were_shown(fen: int) -> None:
    shown = format_fen(fen)
    assert parse_yuan(shown) == fen
    assert parse_yuan(shown.removeprefix("¥").replace(",", "")) == fen


@pytest.mark.parametrize("text", ["", "-1", "1.234", "²", "1e3", "1,0x", "1234567890", " . "])
def test_yuan_that_is_no_amount_reads_as_none(text: str) -> None:
    assert parse_yuan(text) is None
