"""Checkout: validate the basket, gather the decision's inputs, decide once, record the decision,
the order, its items and the hold on the credit line."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bnpl.credit.feed_features import FeedFeatures
from bnpl.domain.credit import CreditAssessment, first_limit, lifts_category_caps, monthly_spend
from bnpl.domain.decision import Decision, DecisionInput, Outcome, RuleHit, decide
from bnpl.domain.errors import (
    CurrencyMismatch,
    Forbidden,
    InvalidInput,
)
from bnpl.domain.money import DEFAULT_CURRENCY
from bnpl.domain.orders import (
    Channel,
    Item,
    OrderStatus,
    normalise_items,
    validate_items,
)
from bnpl.domain.plans import (
    PAY_AFTER_TRIAL,
    Plan,
    build_schedule,
    check_plan_amount,
    get_plan,
    plan_fee,
)
from bnpl.risk.rules import evaluate as evaluate_rules
from bnpl.risk.signals import gather as gather_signals
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.services.credit import assess_checkout, assessment_record, checkout_feed
from bnpl.services.credit_lines import assign_first_limit, change_account, lock_account
from bnpl.services.exposure import lock_account_with_facts
from bnpl.services.orders.records import NEW_DECISION, NEW_ITEMS, NEW_ORDER, customer_stream
from bnpl.services.orders.views import for_actor, order_view

FEE_PAYERS = ("customer", "merchant")


@dataclass(frozen=True)
class AuthorizeCommand:
    merchant_id: int
    customer_id: int
    items: list[Item]
    plan_code: str = PAY_AFTER_TRIAL.code
    channel: str = Channel.MALL.value
    currency: str = DEFAULT_CURRENCY
    fee_payer: str = "customer"
    stream_id: str | None = None
    creator_id: str | None = None
    device_id: str | None = None
    address_hash: str | None = None  # the delivery address as the merchant sends it; kept keyed-hashed
    extra: dict[str, Any] = field(default_factory=dict)


def _age_days(ctx: Ctx, created_at: datetime) -> int:
    """Whole days since a stored timestamp (SQLite hands back naive UTC)."""
    aware = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    return max(0, (ctx.now - aware).days)


def authorize(ctx: Ctx, cmd: AuthorizeCommand) -> dict[str, Any]:
    """Decide on a checkout; an approval places a hold on the customer's available credit."""
    plan = _validate(ctx, cmd)
    account, merchant, facts = lock_account_with_facts(ctx, cmd.customer_id, cmd.merchant_id)
    # the delivery address is kept and compared only as a keyed hash (store/crypto.py), whatever
    # form the merchant sent it in: velocity, the cash-out graph and features compare the hashes
    cmd = replace(
        cmd,
        items=normalise_items(cmd.items),
        address_hash=ctx.settings.keys.lookup("address", cmd.address_hash),
    )
    amount = validate_items(cmd.items, frozenset(merchant.categories))
    check_plan_amount(plan, amount)
    feed = checkout_feed(ctx, cmd.customer_id)
    inputs = _decision_inputs(ctx, cmd, plan, amount, account, merchant, facts, feed)
    credit = assess_checkout(
        ctx,
        facts.profile,
        account,
        inputs.days_overdue,
        ctx.settings.credit_policy,
        (facts.champion, facts.any_shadow),
        feed,
        amount,
    )
    opened = _first_limit(ctx, account, inputs, credit)
    if opened.limit != inputs.limit:
        account = lock_account(ctx, cmd.customer_id)  # the line just opened: rules see it as it is
    inputs = opened
    signals, hits, rule_errors = _apply_rules(ctx, cmd, inputs, account, credit, feed)
    decision = decide(inputs, ctx.settings.decision_policy, tuple(hits), credit, ctx.settings.credit_policy)
    return _record(ctx, cmd, inputs, merchant, decision, signals, hits, rule_errors, credit)


def _validate(ctx: Ctx, cmd: AuthorizeCommand) -> Plan:
    """Who may ask, and the request's own fields, before any lock is taken."""
    ctx.actor.require("merchant")
    if ctx.actor.role == "merchant" and ctx.actor.subject_id != cmd.merchant_id:
        raise Forbidden("a merchant may only create its own orders")
    if cmd.currency != DEFAULT_CURRENCY:
        raise CurrencyMismatch(f"orders are in {DEFAULT_CURRENCY}, not {cmd.currency}")
    plan = get_plan(cmd.plan_code)
    if cmd.channel not in Channel.__members__.values():
        raise InvalidInput(f"channel must be one of {', '.join(c.value for c in Channel)}")
    if cmd.fee_payer not in FEE_PAYERS:
        raise InvalidInput(f"fee_payer must be one of {', '.join(FEE_PAYERS)}")
    return plan


def _decision_inputs(
    ctx: Ctx,
    cmd: AuthorizeCommand,
    plan: Plan,
    amount: int,
    account: Any,
    merchant: Any,
    facts: Any,
    feed: FeedFeatures,
) -> DecisionInput:
    """Everything the one decision reads, from the locked account, the checkout facts and the
    marketplace feed (spending paid by other means counts towards what a customer can afford)."""
    spend: dict[str, int] = {}
    for item in cmd.items:
        spend[item.category] = spend.get(item.category, 0) + item.unit_price * item.quantity
    fee = plan_fee(plan, amount) if cmd.fee_payer == "customer" else 0
    first_due = build_schedule(plan, amount, ctx.today + timedelta(days=merchant.trial_days), fee)[0]
    return DecisionInput(
        customer_id=cmd.customer_id,
        account_state=account.state,
        limit=account.credit_limit,
        outstanding=account.outstanding,
        holds=account.holds,
        amount=amount,
        plan_code=plan.code,
        channel=cmd.channel,
        merchant_id=cmd.merchant_id,
        categories=tuple(sorted({i.category for i in cmd.items})),
        rules_version=ctx.rules.version if ctx.rules else None,
        days_overdue=facts.days_overdue(ctx.today),
        paused=account.paused_until is not None and ctx.today <= account.paused_until,
        own_limit=account.customer_limit,
        category_spend=tuple(sorted(spend.items())),
        merchant_age_days=_age_days(ctx, merchant.created_at),
        merchant_exposure=facts.merchant_exposure,
        merchant_cap=merchant.outstanding_cap,
        platform_exposure=facts.platform_exposure,
        monthly_spend=monthly_spend((facts.profile or {}) | feed.values),
        # held orders will fall due soon after shipment: count them too, as if due next month
        due_next_month=facts.due_next_month + account.holds,
        first_instalment=first_due.total,
    )


def _first_limit(
    ctx: Ctx, account: Any, inputs: DecisionInput, credit: CreditAssessment | None
) -> DecisionInput:
    """A line never given a limit opens at its first scored checkout with the limit of the grade
    (or the starter limit for a thin file), never below what it already has in use."""
    if credit is None or account.limit_set_by is not None or account.credit_limit > 0:
        return inputs
    policy = ctx.settings.credit_policy
    limit = max(first_limit(credit, inputs.monthly_spend, policy), account.outstanding + account.holds)
    if limit <= 0:  # a grade not eligible: the line stays unset, for a later checkout or review
        return inputs
    why = "starter limit: no history" if credit.thin_file else f"grade {credit.grade.value}: first limit"
    assign_first_limit(ctx, account.customer_id, limit, why)
    return replace(inputs, limit=limit)


def _apply_rules(
    ctx: Ctx,
    cmd: AuthorizeCommand,
    inputs: DecisionInput,
    account: Any,
    credit: CreditAssessment | None,
    feed: FeedFeatures,
) -> tuple[dict[str, Any], list[RuleHit], list[str]]:
    """The rule set's hits on the signals it reads (none without a rule set)."""
    if ctx.rules is None:
        return {}, [], []
    signals = gather_signals(
        ctx,
        customer_id=cmd.customer_id,
        merchant_id=cmd.merchant_id,
        amount=inputs.amount,
        plan=inputs.plan_code,
        channel=cmd.channel,
        categories=list(inputs.categories),
        items=len(cmd.items),
        account=account,
        device_id=cmd.device_id,
        address_hash=cmd.address_hash,
        needed=ctx.rules.names,
        credit_grade=credit.grade.value if credit is not None else "",
        credit_trusted=lifts_category_caps(credit, ctx.settings.credit_policy),
        feed=feed.values,
    )
    hits, rule_errors = evaluate_rules(ctx.rules, signals)
    return signals, hits, rule_errors


def _record(
    ctx: Ctx,
    cmd: AuthorizeCommand,
    inputs: DecisionInput,
    merchant: Any,
    decision: Decision,
    signals: dict[str, Any],
    hits: list[RuleHit],
    rule_errors: list[str],
    credit: Any,
) -> dict[str, Any]:
    """Write the decision, the order and its items, the hold and the audit record."""
    amount = inputs.amount
    reasons = [{"code": r.code, "en": r.en, "zh": r.zh} for r in decision.reasons]
    decision_row = {
        "customer_id": cmd.customer_id,
        "merchant_id": cmd.merchant_id,
        "amount": amount,
        "outcome": decision.outcome.value,
        "approved_amount": decision.approved_amount,
        "reasons": reasons,
        "inputs": {
            **asdict(inputs),
            "categories": list(inputs.categories),
            "device_id": cmd.device_id,
            "address_hash": cmd.address_hash,
            "stream_id": cmd.stream_id,
            "creator_id": cmd.creator_id,
            "signals": {k: str(v) if isinstance(v, Decimal) else v for k, v in signals.items()},
            "credit": assessment_record(credit),
        },
        "versions": decision.versions,
        "rule_hits": {"hits": [asdict(h) for h in hits], "errors": rule_errors},
        "business_date": ctx.today,
        "created_at": ctx.now,
    }
    decision_row["id"] = ctx.conn.execute(NEW_DECISION, decision_row).scalar_one()

    status = {Outcome.APPROVE: OrderStatus.AUTHORIZED, Outcome.REVIEW: OrderStatus.REVIEW}.get(
        decision.outcome, OrderStatus.DECLINED
    )
    order_row: dict[str, Any] = {
        "merchant_id": cmd.merchant_id,
        "customer_id": cmd.customer_id,
        "decision_id": decision_row["id"],
        "status": status.value,
        "currency": cmd.currency,
        "amount": amount,
        "returned_amount": 0,
        "pending_return_amount": 0,
        "plan_code": inputs.plan_code,
        "fee_payer": cmd.fee_payer,
        "channel": cmd.channel,
        "stream_id": cmd.stream_id,
        "creator_id": cmd.creator_id,
        "device_id": cmd.device_id,
        "address_hash": cmd.address_hash,
        "mdr_bps": merchant.mdr_bps,
        "trial_days": merchant.trial_days,
        "settlement_delay_days": merchant.settlement_delay_days,
        "mdr_amount": 0,
        "merchant_fee": 0,
        "authorized_on": ctx.today,
        "expires_on": ctx.today
        + timedelta(
            days=ctx.settings.review_ttl_days
            if status == OrderStatus.REVIEW
            else ctx.settings.authorization_ttl_days
        ),
        "captured_on": None,
        "delivered_on": None,
        "delivery_assumed": 0,
        "trial_ends_on": None,
        "settle_on": None,
        "settled_on": None,
        "created_at": ctx.now,
    }
    order_row["id"] = ctx.conn.execute(NEW_ORDER, order_row).scalar_one()
    item_rows = [
        {
            "order_id": order_row["id"],
            "sku": i.sku,
            "category": i.category,
            "unit_price": i.unit_price,
            "quantity": i.quantity,
            "returned_quantity": 0,
            "pending_quantity": 0,
        }
        for i in cmd.items
    ]
    ctx.conn.execute(NEW_ITEMS, item_rows)
    if decision.holds_credit:
        change_account(ctx, cmd.customer_id, holds=amount)
    audit.record(
        ctx,
        customer_stream(cmd.customer_id),
        f"order.{status.value}",
        "order",
        order_row["id"],
        None,
        {"amount": amount, "outcome": decision.outcome.value, "merchant_id": cmd.merchant_id},
    )
    return for_actor(ctx, order_view(order_row, item_rows, [], decision_row))
