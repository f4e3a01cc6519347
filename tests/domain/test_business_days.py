"""Which date end of day may close next, and which dates an action may bear: pure date logic."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bnpl.domain.business_days import Close, days_between, forward_of, judge, open_date

D = date(2026, 12, 13)


def test_the_open_date_is_the_day_after_the_last_closed_one() -> None:
    assert open_date(None) is None
    assert open_date(D) == date(2026, 12, 14)


def test_what_end_of_day_for_a_date_is() -> None:
    assert judge(date(2026, 12, 14), D).kind is Close.OPEN
    assert judge(date(2027, 1, 1), None).kind is Close.OPEN  # empty calendar: the first run decides
    assert judge(D, D).kind is Close.RERUN
    assert judge(date(2026, 12, 11), D).kind is Close.CLOSED
    skips = judge(date(2026, 12, 16), D)
    assert (skips.kind, skips.open, skips.missed) == (
        Close.SKIPS,
        date(2026, 12, 14),
        (date(2026, 12, 14), date(2026, 12, 15)),
    )


def test_an_action_may_bear_any_date_up_to_the_open_one() -> None:
    assert forward_of(date(2026, 12, 14), D) is None
    assert forward_of(date(2026, 1, 1), D) is None  # a closed date: the next end of day sees it
    assert forward_of(date(2026, 12, 15), D) == date(2026, 12, 14)
    assert forward_of(date(2099, 1, 1), None) is None


@given(st.dates(max_value=date(2999, 1, 1)), st.integers(0, 400))
def test_days_between_is_every_date_in_order(first: date, span: int) -> None:
    last = first + timedelta(days=span)
    days = days_between(first, last)
    assert days == sorted(set(days)) and (days[0], days[-1], len(days)) == (first, last, span + 1)
    assert days_between(last + timedelta(days=1), last) == []
