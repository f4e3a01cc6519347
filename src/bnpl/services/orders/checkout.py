"""Checkout: validate the basket, gather the decision's inputs, decide once, record the decision,
the order, its items and the hold on the credit line."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
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
from bnpl.services.credit_lines import assign_first_limit, change_accounts, lock_account
from bnpl.services.exposure import lock_account_with_facts
from bnpl.services.orders.records import customer_stream
from bnpl.services.orders.views import for_actor, order_view
from bnpl.store.bulk import insert_rows
from bnpl.store.tables import decisions, order_items, orders

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
    """Decide on a checkout; an approval places a hold on the customer's available credit.

    Many checkouts in one transaction are ``services.orders.batch.authorize_many``: the same
    steps, with the locks, the reads and the writes paid once per batch."""
    plan = validate(ctx, cmd)
    account, merchant, facts = lock_account_with_facts(ctx, cmd.customer_id, cmd.merchant_id)
    return record(ctx, [decide_checkout(ctx, cmd, plan, account, merchant, facts)])[0]


@dataclass(frozen=True)
class Checkout:
    """One decided checkout, not yet written: what ``record`` needs."""

    cmd: AuthorizeCommand
    inputs: DecisionInput
    merchant: Any
    decision: Decision
    signals: dict[str, Any]
    hits: list[RuleHit]
    rule_errors: list[str]
    credit: Any


def decide_checkout(
    ctx: Ctx,
    cmd: AuthorizeCommand,
    plan: Plan,
    account: Any,
    merchant: Any,
    facts: Any,
    merchant_orders_unseen: int = 0,
    counts: dict[str, Any] | None = None,
    feed: FeedFeatures | None = None,
) -> Checkout:
    """Everything between the lock and the writes, for one checkout: the basket checked against the
    merchant, the decision's inputs, the credit assessment (and a new line's first limit), the
    rules, and the one ``decide``.

    ``merchant_orders_unseen``: orders to this merchant decided earlier in the same batch and not
    yet written, which the merchant's velocity counts must include (they read the orders table).
    ``counts``: the velocity counts, and ``feed`` the marketplace feed's features, when the batch
    read them for all its checkouts at once."""
    # the delivery address is kept and compared only as a keyed hash (store/crypto.py), whatever
    # form the merchant sent it in: velocity, the cash-out graph and features compare the hashes
    cmd = replace(
        cmd,
        items=normalise_items(cmd.items),
        address_hash=ctx.settings.keys.lookup("address", cmd.address_hash),
    )
    amount = validate_items(cmd.items, frozenset(merchant.categories))
    check_plan_amount(plan, amount)
    feed = feed if feed is not None else checkout_feed(ctx, cmd.customer_id)
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
    signals, hits, rule_errors = _apply_rules(
        ctx, cmd, inputs, account, credit, feed, merchant_orders_unseen, counts
    )
    decision = decide(inputs, ctx.settings.decision_policy, tuple(hits), credit, ctx.settings.credit_policy)
    return Checkout(cmd, inputs, merchant, decision, signals, hits, rule_errors, credit)


def validate(ctx: Ctx, cmd: AuthorizeCommand) -> Plan:
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


MERCHANT_VELOCITY = ("merchant.orders_10m", "merchant.orders_1h")


def _apply_rules(
    ctx: Ctx,
    cmd: AuthorizeCommand,
    inputs: DecisionInput,
    account: Any,
    credit: CreditAssessment | None,
    feed: FeedFeatures,
    merchant_orders_unseen: int = 0,
    counts: dict[str, Any] | None = None,
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
        counts=counts,
    )
    for name in MERCHANT_VELOCITY:  # orders of this batch, decided just now (created now)
        if merchant_orders_unseen and name in signals:
            signals[name] += merchant_orders_unseen
    hits, rule_errors = evaluate_rules(ctx.rules, signals)
    return signals, hits, rule_errors


def record(ctx: Ctx, checkouts: list[Checkout]) -> list[dict[str, Any]]:
    """Write the decisions, the orders and their items, the holds and the audit records of decided
    checkouts, each kind of row in one statement; returns each order's view, in order."""
    if not checkouts:
        return []
    decision_rows = [_decision_row(ctx, c) for c in checkouts]
    for row, new_id in zip(
        decision_rows, insert_rows(ctx.conn, decisions, decision_rows, ids=True), strict=True
    ):
        row["id"] = new_id
    order_rows = [_order_row(ctx, c, d["id"]) for c, d in zip(checkouts, decision_rows, strict=True)]
    for row, new_id in zip(order_rows, insert_rows(ctx.conn, orders, order_rows, ids=True), strict=True):
        row["id"] = new_id
    item_rows = [
        [
            {
                "order_id": order_row["id"],
                "sku": i.sku,
                "category": i.category,
                "unit_price": i.unit_price,
                "quantity": i.quantity,
                "returned_quantity": 0,
                "pending_quantity": 0,
            }
            for i in c.cmd.items
        ]
        for c, order_row in zip(checkouts, order_rows, strict=True)
    ]
    insert_rows(ctx.conn, order_items, [row for rows in item_rows for row in rows])
    holds: dict[int, int] = {}
    for c in checkouts:
        if c.decision.holds_credit:
            holds[c.cmd.customer_id] = holds.get(c.cmd.customer_id, 0) + c.inputs.amount
    change_accounts(ctx, {cid: {"holds": amount} for cid, amount in holds.items()})
    audits = [
        (
            customer_stream(c.cmd.customer_id),
            f"order.{o['status']}",
            "order",
            o["id"],
            None,
            {
                "amount": c.inputs.amount,
                "outcome": c.decision.outcome.value,
                "merchant_id": c.cmd.merchant_id,
            },
        )
        for c, o in zip(checkouts, order_rows, strict=True)
    ]
    audit.record_many(ctx, audits)
    return [
        for_actor(ctx, order_view(o, items, [], d))
        for o, items, d in zip(order_rows, item_rows, decision_rows, strict=True)
    ]


_INPUT_FIELDS = tuple(f.name for f in fields(DecisionInput))


def _fields(inputs: DecisionInput) -> dict[str, Any]:
    """``asdict`` without its deep copy of every value (a third of a batched checkout's Python
    time went there): every field is a plain value or a tuple of them."""
    return {name: getattr(inputs, name) for name in _INPUT_FIELDS}


def _decision_row(ctx: Ctx, c: Checkout) -> dict[str, Any]:
    cmd, inputs, decision = c.cmd, c.inputs, c.decision
    return {
        "customer_id": cmd.customer_id,
        "merchant_id": cmd.merchant_id,
        "amount": inputs.amount,
        "outcome": decision.outcome.value,
        "approved_amount": decision.approved_amount,
        "reasons": [{"code": r.code, "en": r.en, "zh": r.zh} for r in decision.reasons],
        "inputs": {
            **_fields(inputs),
            "categories": list(inputs.categories),
            "device_id": cmd.device_id,
            "address_hash": cmd.address_hash,
            "stream_id": cmd.stream_id,
            "creator_id": cmd.creator_id,
            "signals": {k: str(v) if isinstance(v, Decimal) else v for k, v in c.signals.items()},
            "credit": assessment_record(c.credit),
        },
        "versions": decision.versions,
        "rule_hits": {"hits": [asdict(h) for h in c.hits], "errors": c.rule_errors},
        "business_date": ctx.today,
        "created_at": ctx.now,
    }


def _order_row(ctx: Ctx, c: Checkout, decision_id: int) -> dict[str, Any]:
    cmd, merchant = c.cmd, c.merchant
    status = {Outcome.APPROVE: OrderStatus.AUTHORIZED, Outcome.REVIEW: OrderStatus.REVIEW}.get(
        c.decision.outcome, OrderStatus.DECLINED
    )
    ttl = (
        ctx.settings.review_ttl_days if status == OrderStatus.REVIEW else ctx.settings.authorization_ttl_days
    )
    return {
        "merchant_id": cmd.merchant_id,
        "customer_id": cmd.customer_id,
        "decision_id": decision_id,
        "status": status.value,
        "currency": cmd.currency,
        "amount": c.inputs.amount,
        "returned_amount": 0,
        "pending_return_amount": 0,
        "plan_code": c.inputs.plan_code,
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
        "expires_on": ctx.today + timedelta(days=ttl),
        "captured_on": None,
        "delivered_on": None,
        "delivery_assumed": 0,
        "trial_ends_on": None,
        "settle_on": None,
        "settled_on": None,
        "created_at": ctx.now,
    }
