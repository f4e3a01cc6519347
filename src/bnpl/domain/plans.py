"""Plan products and their repayment schedules.

A plan is data: number of instalments, months between them, days after the trial until the first
payment, and a total fee as a share of principal. "Pay after trial" is one instalment with no fee;
monthly 3/6/12 carry a fee whose annual percentage rate (APR) is disclosed before checkout.
Schedules are integer fen with the remainder on the last instalment.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext

from bnpl.domain.errors import InvalidInput
from bnpl.domain.money import apply_rate, split_evenly


@dataclass(frozen=True, slots=True)
class Plan:
    code: str
    instalments: int
    interval_months: int
    first_due_offset_days: int
    fee_rate: Decimal  # total fee as a share of principal, e.g. Decimal("0.045")
    name_en: str
    name_zh: str

    @property
    def has_fee(self) -> bool:
        return self.fee_rate > 0


# Instalments start a month after the trial ends; pay-after-trial is due the day it ends.
PAY_AFTER_TRIAL = Plan("pay_after_trial", 1, 0, 0, Decimal(0), "Pay after trial", "先用后付")
PLANS: dict[str, Plan] = {
    p.code: p
    for p in (
        PAY_AFTER_TRIAL,
        Plan("m3", 3, 1, 30, Decimal("0.023"), "3 monthly instalments", "分3期"),
        Plan("m6", 6, 1, 30, Decimal("0.045"), "6 monthly instalments", "分6期"),
        Plan("m12", 12, 1, 30, Decimal("0.075"), "12 monthly instalments", "分12期"),
    )
}


MIN_INSTALMENT = 100  # fen: no instalment plan whose payments would be under one yuan


def check_plan_amount(plan: Plan, principal: int) -> None:
    """Instalments must each be worth paying: refuse m12 on a 5-fen basket."""
    if plan.instalments > 1 and principal < plan.instalments * MIN_INSTALMENT:
        raise InvalidInput(
            f"{plan.code} needs at least {plan.instalments * MIN_INSTALMENT} fen "
            f"({MIN_INSTALMENT} per instalment); this is {principal}"
        )


def get_plan(code: str) -> Plan:
    try:
        return PLANS[code]
    except KeyError:
        raise InvalidInput(f"unknown plan {code!r}; choose one of {', '.join(PLANS)}") from None


@dataclass(frozen=True, slots=True)
class Instalment:
    seq: int
    due_date: date
    principal: int
    fee: int

    @property
    def total(self) -> int:
        return self.principal + self.fee


def add_months(day: date, months: int) -> date:
    """Same day-of-month ``months`` later, clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def plan_fee(plan: Plan, principal: int) -> int:
    return apply_rate(principal, plan.fee_rate)


def due_dates(plan: Plan, trial_end: date) -> list[date]:
    first = trial_end + timedelta(days=plan.first_due_offset_days)
    return [add_months(first, i * plan.interval_months) for i in range(plan.instalments)]


def build_schedule(plan: Plan, principal: int, trial_end: date, fee: int | None = None) -> list[Instalment]:
    """The schedule for ``principal`` fen; ``fee`` overrides the plan fee (0 when subsidised)."""
    total_fee = plan_fee(plan, principal) if fee is None else fee
    dates = due_dates(plan, trial_end)
    principals = split_evenly(principal, plan.instalments)
    fees = split_evenly(total_fee, plan.instalments)
    return [
        Instalment(i + 1, d, p, f) for i, (d, p, f) in enumerate(zip(dates, principals, fees, strict=True))
    ]


def apr(principal: int, schedule: list[Instalment], start: date) -> Decimal:
    """Annual percentage rate (effective, actual/365) at which the payments repay ``principal``.

    Solved by bisection in Decimal: the internal rate of return of the customer's cash flows, the
    disclosure the PRC central bank asks of consumer credit (年化利率, IRR method).
    """
    if principal <= 0 or sum(i.fee for i in schedule) == 0:
        return Decimal(0)
    flows = [(Decimal((i.due_date - start).days) / 365, Decimal(i.total)) for i in schedule]
    with localcontext() as ctx:
        ctx.prec = 28

        def present_value(rate: Decimal) -> Decimal:
            return sum((amount / (1 + rate) ** t for t, amount in flows), Decimal(0))

        low, high = Decimal(0), Decimal(10)
        for _ in range(80):
            mid = (low + high) / 2
            if present_value(mid) > principal:
                low = mid
            else:
                high = mid
    return ((low + high) / 2).quantize(Decimal("0.0001"))
