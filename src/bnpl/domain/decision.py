"""The one checkout decision function.

Policy checks (account state, exposure caps), live risk rules, the credit assessment (grade,
thin-file starter policy), then the limit, giving an outcome with reason codes a customer can read.
Everything that decides a checkout plugs in here, never beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bnpl.domain.credit import CREDIT_POLICY_VERSION, CreditAssessment, CreditPolicy

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
            "PAYMENT_OVERDUE",
            "A payment is overdue; once it is paid you can use pay later again.",
            "您有账单已逾期，还清后即可继续使用先用后付。",
        ),
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
        Reason(
            "CREDIT_SCORE",
            "Your credit assessment does not allow use first, pay later at the moment.",
            "您的信用评估暂不支持先用后付。",
        ),
        Reason(
            "GRADE_ORDER_CAP",
            "Your credit assessment allows a smaller amount for one order.",
            "根据您的信用评估，单笔订单可用金额较低。",
        ),
        Reason(
            "STARTER_LIMIT",
            "New users start with a smaller amount; it grows as you repay on time.",
            "新用户初始额度较低，按时还款后可提升。",
        ),
        Reason(
            "STARTER_CATEGORY",
            "New users cannot use pay later for this kind of goods yet.",
            "新用户暂不支持该类商品先用后付。",
        ),
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
    days_overdue: int = 0  # of the customer's oldest unpaid bill past its due date (not paused)


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
    inp: DecisionInput,
    policy: DecisionPolicy = DecisionPolicy(),
    hits: tuple[RuleHit, ...] = (),
    credit: CreditAssessment | None = None,
    credit_policy: CreditPolicy = CreditPolicy(),
) -> Decision:
    """Policy, live rules, the credit assessment, then the limit. Declines win over a lower offer,
    which wins over a review. ``approve_lower`` authorizes nothing: ``approved_amount`` is the most
    the customer may check out now. Without a ``credit`` assessment (no champion model) the limit
    alone decides."""
    versions = {"policy": POLICY_VERSION}
    if inp.rules_version:
        versions["rules"] = inp.rules_version
    if credit is not None:
        versions |= {"model": credit.model_version, "credit_policy": CREDIT_POLICY_VERSION}
    live = [h for h in hits if h.mode == "live"]

    def refuse(*codes: str, extra: tuple[Reason, ...] = ()) -> Decision:
        reasons = tuple(reason_for(c) for c in dict.fromkeys(codes)) + extra
        return Decision(Outcome.DECLINE, 0, reasons, versions)

    if inp.account_state != "active":
        return refuse(
            {"frozen": "ACCOUNT_FROZEN", "closed": "ACCOUNT_CLOSED"}.get(inp.account_state, "ACCOUNT_BLOCKED")
        )
    if inp.days_overdue > 0:  # no new credit while a bill is overdue, frozen line or not
        return refuse("PAYMENT_OVERDUE")
    if inp.amount > policy.max_order_amount:
        return refuse("ORDER_CAP")
    declines = [h.reason for h in live if h.action == "decline"]
    if declines:
        return refuse(*declines)
    caps: list[tuple[int, tuple[Reason, ...]]] = [
        (h.reduce_to, (reason_for(h.reason),))
        for h in live
        if h.action == "reduce_amount" and h.reduce_to is not None
    ]
    if credit is not None:
        refusal, credit_caps = _credit_caps(inp, credit, credit_policy)
        if refusal:
            return refuse(*refusal, extra=score_reasons(credit) if "CREDIT_SCORE" in refusal else ())
        caps += credit_caps
    available = available_credit(inp.limit, inp.outstanding, inp.holds)
    if inp.amount > available:
        return refuse("INSUFFICIENT_CREDIT")
    if caps:
        lowest, why = min(caps, key=lambda cap: cap[0])
        if inp.amount > lowest:
            if lowest <= 0:  # nothing left to offer
                return refuse(why[0].code, extra=why[1:])
            return Decision(Outcome.APPROVE_LOWER, lowest, why, versions)
    reviews = [h.reason for h in live if h.action in ("review", "step_up")]
    if reviews:
        return Decision(
            Outcome.REVIEW, inp.amount, tuple(reason_for(c) for c in dict.fromkeys(reviews)), versions
        )
    return Decision(Outcome.APPROVE, inp.amount, (REASONS["WITHIN_LIMIT"],), versions)


def score_reasons(credit: CreditAssessment) -> tuple[Reason, ...]:
    """The features that cost the customer the most points, as reasons they can read."""
    return tuple(
        Reason(f"SCORE:{r.feature}", f"{r.en} lowered your credit score.", f"「{r.zh}」拉低了您的信用评分。")
        for r in credit.reasons
    )


def _credit_caps(
    inp: DecisionInput, credit: CreditAssessment, policy: CreditPolicy
) -> tuple[tuple[str, ...] | None, list[tuple[int, tuple[Reason, ...]]]]:
    """A refusal's codes, or the most the customer may check out now and why (largest first)."""
    if credit.thin_file:
        if any(c in policy.starter_blocked_categories for c in inp.categories):
            return ("STARTER_CATEGORY",), []
        starter = available_credit(min(inp.limit, policy.starter_limit), inp.outstanding, inp.holds)
        return None, [(starter, (REASONS["STARTER_LIMIT"],))]
    band = policy.band(credit.pd)
    if not band.eligible:
        return ("CREDIT_SCORE",), []
    return None, [(band.max_order, (REASONS["GRADE_ORDER_CAP"], *score_reasons(credit)))]
