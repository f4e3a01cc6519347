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


RULE_REASONS: dict[str, Reason] = {
    r.code: r
    for r in (
        Reason(
            "RESALE_HIGH_VALUE",
            "Large orders of easily resold goods cannot use pay later.",
            "易转售商品的大额订单暂不支持先用后付。",
        ),
        Reason(
            "NEW_ACCOUNT_NEW_DEVICE",
            "We need to check this order because the account and the device are new.",
            "账户和设备均为新，订单需人工审核。",
        ),
        Reason(
            "SHARED_DEVICE",
            "This device is used by several accounts; the order needs a check.",
            "该设备被多个账户使用，订单需人工审核。",
        ),
        Reason(
            "SHARED_ADDRESS",
            "Many accounts ship to this address; the order needs a check.",
            "多个账户使用该收货地址，订单需人工审核。",
        ),
        Reason(
            "VELOCITY_BURST",
            "Many orders in a short time; the order needs a check.",
            "短时间内下单过多，订单需人工审核。",
        ),
        Reason(
            "REPEAT_MERCHANT",
            "Too many similar orders with this merchant today.",
            "今日在该商家的同类订单过多。",
        ),
        Reason(
            "NEW_HIGH_UTILISATION",
            "Your offer is lower while your credit line is new and nearly used.",
            "新开通额度且使用率较高，本次可用金额下调。",
        ),
    )
}


def reason_for(code: str) -> Reason:
    """The customer-facing text of a reason code (a rule's own code falls back to a plain text)."""
    return (
        REASONS.get(code)
        or RULE_REASONS.get(code)
        or Reason(code, f"A risk check applies to this order ({code}).", f"该订单触发风险校验（{code}）。")
    )


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A rule that fired: live hits shape the outcome, shadow hits are only recorded."""

    rule_id: str
    action: str  # decline | review | reduce_amount | step_up
    reason: str
    mode: str  # live | shadow
    reduce_to: int | None = None


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
    rules_version: str | None = None


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
    def holds_credit(self) -> bool:
        """Approved, or waiting for an analyst: either way the amount is held on the line."""
        return self.outcome in (Outcome.APPROVE, Outcome.REVIEW)


def available_credit(limit: int, outstanding: int, holds: int) -> int:
    return max(0, limit - outstanding - holds)


def decide(
    inp: DecisionInput, policy: DecisionPolicy = DecisionPolicy(), hits: tuple[RuleHit, ...] = ()
) -> Decision:
    """Policy, then live rules, then the limit. Declines win over a lower offer, which wins over
    a review. ``approve_lower`` authorizes nothing: ``approved_amount`` is the most the customer
    may check out now."""
    versions = {"policy": POLICY_VERSION}
    if inp.rules_version:
        versions["rules"] = inp.rules_version
    live = [h for h in hits if h.mode == "live"]

    def refuse(*codes: str) -> Decision:
        return Decision(Outcome.DECLINE, 0, tuple(reason_for(c) for c in dict.fromkeys(codes)), versions)

    if inp.account_state != "active":
        return refuse(
            {"frozen": "ACCOUNT_FROZEN", "closed": "ACCOUNT_CLOSED"}.get(inp.account_state, "ACCOUNT_BLOCKED")
        )
    if inp.amount > policy.max_order_amount:
        return refuse("ORDER_CAP")
    declines = [h.reason for h in live if h.action == "decline"]
    if declines:
        return refuse(*declines)
    available = available_credit(inp.limit, inp.outstanding, inp.holds)
    if inp.amount > available:
        return refuse("INSUFFICIENT_CREDIT")
    caps = [h for h in live if h.action == "reduce_amount" and h.reduce_to is not None]
    if caps:
        lowest = min(caps, key=lambda h: h.reduce_to or 0)
        if inp.amount > (lowest.reduce_to or 0):
            if not lowest.reduce_to:  # nothing left to offer
                return refuse(lowest.reason)
            return Decision(Outcome.APPROVE_LOWER, lowest.reduce_to, (reason_for(lowest.reason),), versions)
    reviews = [h.reason for h in live if h.action in ("review", "step_up")]
    if reviews:
        return Decision(
            Outcome.REVIEW, inp.amount, tuple(reason_for(c) for c in dict.fromkeys(reviews)), versions
        )
    return Decision(Outcome.APPROVE, inp.amount, (REASONS["WITHIN_LIMIT"],), versions)
