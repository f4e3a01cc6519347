"""The one checkout decision function.

Policy checks (account state, exposure caps) then the limit check, giving an outcome with reason
codes a customer can read. Credit scoring and rules plug in here in later work, never beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

POLICY_VERSION = "core-limit-1"


class Outcome(StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"
    REVIEW = "review"
    APPROVE_LOWER = "approve_lower"


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    en: str
    zh: str


REASONS: dict[str, Reason] = {
    r.code: r
    for r in (
        Reason(
            "ACCOUNT_FROZEN",
            "Your credit line is frozen while a payment is overdue.",
            "您有逾期未还款项，额度已冻结。",
        ),
        Reason(
            "ACCOUNT_BLOCKED",
            "Use first, pay later is not available on this account.",
            "该账户暂不可使用先用后付。",
        ),
        Reason("ACCOUNT_CLOSED", "This credit account is closed.", "该额度账户已关闭。"),
        Reason(
            "INSUFFICIENT_CREDIT",
            "The order is larger than your available credit.",
            "订单金额超过可用额度。",
        ),
        Reason(
            "ORDER_CAP",
            "The order is above the largest amount allowed for one order.",
            "订单金额超过单笔上限。",
        ),
        Reason("WITHIN_LIMIT", "The order fits within your available credit.", "订单金额在可用额度内。"),
    )
}


@dataclass(frozen=True, slots=True)
class DecisionInput:
    customer_id: int
    account_state: str
    limit: int
    outstanding: int
    holds: int
    amount: int
    plan_code: str
    channel: str
    merchant_id: int
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DecisionPolicy:
    max_order_amount: int = 5_000_000  # 50,000 yuan


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    approved_amount: int
    reasons: tuple[Reason, ...]
    versions: dict[str, str] = field(default_factory=lambda: {"policy": POLICY_VERSION})

    @property
    def approved(self) -> bool:
        return self.outcome in (Outcome.APPROVE, Outcome.APPROVE_LOWER)


def available_credit(limit: int, outstanding: int, holds: int) -> int:
    return max(0, limit - outstanding - holds)


def decide(inp: DecisionInput, policy: DecisionPolicy = DecisionPolicy()) -> Decision:
    if inp.account_state != "active":
        code = {"frozen": "ACCOUNT_FROZEN", "closed": "ACCOUNT_CLOSED"}.get(
            inp.account_state, "ACCOUNT_BLOCKED"
        )
        return Decision(Outcome.DECLINE, 0, (REASONS[code],))
    if inp.amount > policy.max_order_amount:
        return Decision(Outcome.DECLINE, 0, (REASONS["ORDER_CAP"],))
    if inp.amount > available_credit(inp.limit, inp.outstanding, inp.holds):
        return Decision(Outcome.DECLINE, 0, (REASONS["INSUFFICIENT_CREDIT"],))
    return Decision(Outcome.APPROVE, inp.amount, (REASONS["WITHIN_LIMIT"],))
