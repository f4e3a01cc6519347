"""Where money goes: the repayment waterfall and the tail reduction used by returns.

The waterfall order is data (:class:`Waterfall`): which components are paid first and whether
the walk goes obligation by obligation (oldest due first, each one's fee then principal) or
component by component (every fee oldest first, then every principal).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

COMPONENTS = ("fee", "principal")
Component = Literal["fee", "principal"]


@dataclass(frozen=True, slots=True)
class Due:
    """What is left to pay on one obligation."""

    obligation_id: int
    due_date: date
    seq: int
    fee: int
    principal: int

    def outstanding(self, component: Component) -> int:
        return self.fee if component == "fee" else self.principal


@dataclass(frozen=True, slots=True)
class Allocation:
    obligation_id: int
    component: Component
    amount: int


@dataclass(frozen=True, slots=True)
class Waterfall:
    components: tuple[Component, ...] = ("fee", "principal")
    walk: Literal["obligation_first", "component_first"] = "obligation_first"

    def __post_init__(self) -> None:
        if sorted(self.components) != sorted(COMPONENTS):
            raise ValueError(f"waterfall must order exactly {COMPONENTS}")


DEFAULT_WATERFALL = Waterfall()


def allocate(
    amount: int, dues: list[Due], waterfall: Waterfall = DEFAULT_WATERFALL
) -> tuple[list[Allocation], int]:
    """Allocate ``amount`` fen over ``dues``; returns the allocations and what is left over."""
    ordered = sorted(dues, key=lambda d: (d.due_date, d.seq, d.obligation_id))
    if waterfall.walk == "obligation_first":
        steps = [(d, c) for d in ordered for c in waterfall.components]
    else:
        steps = [(d, c) for c in waterfall.components for d in ordered]
    left = amount
    out: list[Allocation] = []
    for due, component in steps:
        if left == 0:
            break
        take = min(left, due.outstanding(component))
        if take > 0:
            out.append(Allocation(due.obligation_id, component, take))
            left -= take
    return out, left


@dataclass(frozen=True, slots=True)
class Line:
    """One obligation's amount due and paid for a single component."""

    obligation_id: int
    seq: int
    due: int
    paid: int


@dataclass(frozen=True, slots=True)
class Cut:
    obligation_id: int
    reduce_due: int  # the amount due falls by this much
    refund_paid: int  # of which this much had been paid and goes back to the customer


def cut_from_tail(lines: list[Line], amount: int) -> list[Cut]:
    """Reduce what is due by ``amount``, last instalment first.

    Unpaid amounts are cut first (so the customer's earliest due dates are untouched); only if the
    reduction exceeds everything unpaid are paid amounts cut, and those are refunded.
    """
    total_due = sum(line.due for line in lines)
    if amount < 0 or amount > total_due:
        raise ValueError(f"cannot cut {amount} from {total_due}")
    tail = sorted(lines, key=lambda line: line.seq, reverse=True)
    reduce = {line.obligation_id: 0 for line in lines}
    refund = {line.obligation_id: 0 for line in lines}
    left = amount
    for line in tail:  # first pass: unpaid
        take = min(left, line.due - line.paid)
        reduce[line.obligation_id] += take
        left -= take
    for line in tail:  # second pass: paid, refunded
        take = min(left, line.paid)
        reduce[line.obligation_id] += take
        refund[line.obligation_id] += take
        left -= take
    return [
        Cut(line.obligation_id, reduce[line.obligation_id], refund[line.obligation_id])
        for line in lines
        if reduce[line.obligation_id]
    ]
