"""The one checkout decision function.

Policy checks (account state, exposure caps), live risk rules, the credit assessment (grade,
thin-file starter policy), then the limit, giving an outcome with reason codes a customer can read.
Everything that decides a checkout plugs in here, never beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bnpl.domain.credit import CREDIT_POLICY_VERSION, CreditAssessment, CreditPolicy, lifts_category_caps

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
            "PAUSED_BY_CUSTOMER",
            "You paused use first, pay later; resume it in your settings to use it again.",
            "您已暂停先用后付，可在设置中恢复后使用。",
        ),
        Reason(
            "OWN_LIMIT",
            "The order is above the spending limit you set for yourself.",
            "订单金额超过您自行设置的消费上限。",
        ),
        Reason(
            "CATEGORY_CAP",
            "Pay later is limited for this kind of goods; a smaller amount of it is allowed per order.",
            "该类商品先用后付单笔金额受限。",
        ),
        Reason(
            "NEW_MERCHANT_CAP",
            "This shop is new to pay later; orders from it are limited to a smaller amount for now.",
            "该店铺新开通先用后付，单笔订单金额暂时受限。",
        ),
        Reason(
            "MERCHANT_EXPOSURE",
            "This shop cannot offer pay later on more orders right now.",
            "该店铺暂时无法为更多订单提供先用后付。",
        ),
        Reason(
            "PLATFORM_EXPOSURE",
            "Pay later is at capacity right now; please try again later.",
            "先用后付额度暂时已满，请稍后再试。",
        ),
        Reason(
            "AFFORDABILITY_NUDGE",
            "With this order, what falls due next month is more than you usually spend in a month. "
            "Instalments or a smaller basket may be easier to repay.",
            "加上本单，下月待还金额将超过您平时一个月的消费，可考虑分期或减少购买。",
        ),
        Reason(
            "AFFORDABILITY",
            "What would fall due next month is well above what you usually spend in a month.",
            "下月待还金额远超您平时一个月的消费。",
        ),
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
        Reason(
            "FEED_NOT_USED",
            "You withdrew your agreement to share your marketplace shopping history, so it was not "
            "used; new-user limits apply.",
            "您已撤回授权，我们未使用您在电商平台的购物记录，适用新用户额度。",
        ),
    )
}
# the feed status under which the marketplace's data was not used because consent was withdrawn
# (a shopper never asked is not told about a feed they may not know of)
_NO_CONSENT = ("withdrawn",)


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
            "CONTACT_CHANGED",
            "Your phone number or address changed recently; we need to check this order.",
            "您近期更换了手机号或收货地址，订单需人工审核。",
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
        Reason(
            "CASHOUT_MERCHANT",
            "Orders from this shop need a check before pay later can be used.",
            "该店铺的订单需审核后方可使用先用后付。",
        ),
        Reason(
            "ADDRESS_MISMATCH",
            "The order goes to an address you have not used before; it needs a check.",
            "订单收货地址为您从未使用过的地址，需人工审核。",
        ),
        Reason(
            "LIMIT_RAISE_BURST",
            "Many orders right after your limit went up; the order needs a check.",
            "额度提升后短时间内下单较多，订单需人工审核。",
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
    paused: bool = False  # the customer paused use first, pay later for a while
    own_limit: int | None = None  # a lower ceiling the customer set for themself
    category_spend: tuple[tuple[str, int], ...] = ()  # the basket's amount per category
    merchant_age_days: int | None = None
    merchant_exposure: int | None = None  # owed and held on the merchant's orders (last snapshot)
    merchant_cap: int | None = None  # the merchant's own cap, if set; else the policy's
    platform_exposure: int | None = None
    monthly_spend: int | None = None  # observed from history; None when there is none to go on
    due_next_month: int = 0  # already falling due in the next 30 days, and what is held
    first_instalment: int = 0  # what this order would add to it


@dataclass(frozen=True, slots=True)
class DecisionPolicy:
    """Exposure controls. The platform pays merchants up front, so it caps what one order, one
    kind of easily resold goods, one merchant and the whole book may put at risk."""

    max_order_amount: int = 5_000_000  # 50,000 yuan
    # per order, the most of a category that is easy to turn into cash (套现)
    category_caps: Mapping[str, int] = field(
        default_factory=lambda: {
            "phones": 800_000,
            "gold": 300_000,
            "gift_cards": 100_000,
            "top_up_cards": 50_000,
        }
    )
    new_merchant_days: int = 30
    new_merchant_max_order: int = 500_000  # 5,000 yuan per order in its first month
    merchant_outstanding_cap: int = 100_000_000  # 1 million yuan on one merchant's orders
    new_merchant_outstanding_cap: int = 5_000_000
    platform_outstanding_cap: int = 50_000_000_000  # the funding facility
    affordability_nudge_bps: int = 10_000  # next month's bills above a month of spending: a nudge
    affordability_cap_bps: int = 20_000  # ...above twice that: a lower offer


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
    if inp.paused:
        return refuse("PAUSED_BY_CUSTOMER")
    if inp.days_overdue > 0:  # no new credit while a bill is overdue, frozen line or not
        return refuse("PAYMENT_OVERDUE")
    # the caps on easily resold goods guard those the platform knows little about (thin files,
    # weaker grades); a good grade is bounded by its own largest order instead
    exposure = _exposure_refusal(inp, policy, category_caps=not lifts_category_caps(credit, credit_policy))
    if exposure:
        return refuse(exposure)
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
    if inp.own_limit is not None:
        caps.append((available_credit(inp.own_limit, inp.outstanding, inp.holds), (REASONS["OWN_LIMIT"],)))
    if _is_new(inp, policy):
        caps.append((policy.new_merchant_max_order, (REASONS["NEW_MERCHANT_CAP"],)))
    nudge, affordable = _affordability(inp, policy)
    if affordable is not None:
        caps.append((affordable, (REASONS["AFFORDABILITY"],)))
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
    return Decision(Outcome.APPROVE, inp.amount, (REASONS["WITHIN_LIMIT"], *nudge), versions)


def _is_new(inp: DecisionInput, policy: DecisionPolicy) -> bool:
    return inp.merchant_age_days is not None and inp.merchant_age_days < policy.new_merchant_days


def _exposure_refusal(inp: DecisionInput, policy: DecisionPolicy, category_caps: bool = True) -> str | None:
    """The order cap, category caps, and what one merchant and the platform may have outstanding."""
    if inp.amount > policy.max_order_amount:
        return "ORDER_CAP"
    if category_caps and any(spend > policy.category_caps.get(c, spend) for c, spend in inp.category_spend):
        return "CATEGORY_CAP"
    if inp.merchant_exposure is not None:
        cap = inp.merchant_cap
        if cap is None:
            new = _is_new(inp, policy)
            cap = policy.new_merchant_outstanding_cap if new else policy.merchant_outstanding_cap
        if inp.merchant_exposure + inp.amount > cap:
            return "MERCHANT_EXPOSURE"
    if (
        inp.platform_exposure is not None
        and inp.platform_exposure + inp.amount > policy.platform_outstanding_cap
    ):
        return "PLATFORM_EXPOSURE"
    return None


def _affordability(inp: DecisionInput, policy: DecisionPolicy) -> tuple[tuple[Reason, ...], int | None]:
    """A plain nudge when next month's bills would exceed a month of the customer's usual spending,
    and a lower offer (the amount that fits) when they would exceed it by far. Nothing without a
    history to measure spending by."""
    if not inp.monthly_spend or inp.first_instalment <= 0:
        return (), None
    due = inp.due_next_month + inp.first_instalment
    if due * 10_000 <= inp.monthly_spend * policy.affordability_nudge_bps:
        return (), None
    room = inp.monthly_spend * policy.affordability_cap_bps // 10_000 - inp.due_next_month
    if due <= room + inp.due_next_month:
        return (REASONS["AFFORDABILITY_NUDGE"],), None
    # the first instalment is a fixed share of the amount: scale the amount to what fits, less a
    # yuan, in whole yuan, so that the schedule's rounding cannot push a retry over again
    fits = max(0, room) * inp.amount // inp.first_instalment
    return (REASONS["AFFORDABILITY_NUDGE"],), max(0, (fits - 100) // 100 * 100)


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
        # the decision says when the marketplace's data could have scored the shopper but for consent
        feed = ("FEED_NOT_USED",) if credit.feed_status in _NO_CONSENT else ()
        if any(c in policy.starter_blocked_categories for c in inp.categories):
            return ("STARTER_CATEGORY", *feed), []
        starter = available_credit(min(inp.limit, policy.starter_limit), inp.outstanding, inp.holds)
        return None, [(starter, (REASONS["STARTER_LIMIT"], *(REASONS[c] for c in feed)))]
    band = policy.band(credit.pd)
    if not band.eligible:
        return ("CREDIT_SCORE",), []
    return None, [(band.max_order, (REASONS["GRADE_ORDER_CAP"], *score_reasons(credit)))]
