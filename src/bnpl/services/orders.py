"""The order lifecycle: authorize, capture, deliver, return, cancel, expire, convert, pay off."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select

from bnpl.domain import postings
from bnpl.domain.allocation import Cut, Line, cut_from_tail
from bnpl.domain.decision import REASONS, DecisionInput, Outcome, RuleHit, decide
from bnpl.domain.errors import (
    CurrencyMismatch,
    Forbidden,
    InvalidAmount,
    InvalidInput,
    InvalidState,
    NotFound,
)
from bnpl.domain.money import DEFAULT_CURRENCY, apply_rate
from bnpl.domain.orders import (
    Channel,
    Item,
    ItemHolding,
    OrderStatus,
    normalise_items,
    return_amount,
    transition,
    validate_items,
    within_trial,
)
from bnpl.domain.plans import (
    PAY_AFTER_TRIAL,
    Instalment,
    build_schedule,
    check_plan_amount,
    due_dates,
    get_plan,
    plan_fee,
)
from bnpl.risk.rules import evaluate as evaluate_rules
from bnpl.risk.signals import gather as gather_signals
from bnpl.services import audit
from bnpl.services.context import Ctx
from bnpl.services.credit import assess_checkout, assessment_record
from bnpl.services.exposure import lock_account_with_facts
from bnpl.services.ledger import post
from bnpl.services.parties import change_account
from bnpl.services.repayments import repay, use_credit_balance
from bnpl.store.tables import credit_accounts, decisions, obligations, order_items, orders, returns

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
    address_hash: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# Statements on the checkout path, built once.
_NEW_DECISION = decisions.insert().returning(decisions.c.id)
_NEW_ORDER = orders.insert().returning(orders.c.id)
_NEW_ITEMS = order_items.insert()
# one round trip: lock the account of the order's customer
_LOCK_ACCOUNT_OF_ORDER = (
    select(credit_accounts)
    .where(
        credit_accounts.c.customer_id
        == select(orders.c.customer_id).where(orders.c.id == bindparam("oid")).scalar_subquery()
    )
    .with_for_update()
)
_LOCK_ORDER = select(orders).where(orders.c.id == bindparam("oid")).with_for_update()
_UPDATE_ORDER = orders.update().where(orders.c.id == bindparam("b_id"))
_NEW_OBLIGATIONS = obligations.insert().returning(obligations.c.id, sort_by_parameter_order=True)


def _stream(customer_id: int) -> str:
    return f"customer:{customer_id}"


def _mdr(amount: int, bps: int) -> int:
    return apply_rate(amount, Decimal(bps) / 10_000)


# --- reading ---------------------------------------------------------------------------------


def order_view(
    order: Any,
    items: Sequence[Any],
    schedule: Sequence[Any],
    decision: Any,
) -> dict[str, Any]:
    """The one public shape of an order (rows or plain dicts go in)."""

    def iso(d: date | None) -> str | None:
        return d.isoformat() if d else None

    return {
        "id": order["id"],
        "merchant_id": order["merchant_id"],
        "customer_id": order["customer_id"],
        "status": order["status"],
        "currency": order["currency"],
        "amount": order["amount"],
        "returned_amount": order["returned_amount"],
        "pending_return_amount": order["pending_return_amount"],
        "plan": order["plan_code"],
        "fee_payer": order["fee_payer"],
        "channel": order["channel"],
        "stream_id": order["stream_id"],
        "creator_id": order["creator_id"],
        "mdr_amount": order["mdr_amount"],
        "merchant_fee": order["merchant_fee"],
        "authorized_on": iso(order["authorized_on"]),
        "expires_on": iso(order["expires_on"]),
        "captured_on": iso(order["captured_on"]),
        "delivered_on": iso(order["delivered_on"]),
        "trial_ends_on": iso(order["trial_ends_on"]),
        "settle_on": iso(order["settle_on"]),
        "settled_on": iso(order["settled_on"]),
        "items": [
            {
                "sku": i["sku"],
                "category": i["category"],
                "unit_price": i["unit_price"],
                "quantity": i["quantity"],
                "returned_quantity": i["returned_quantity"],
                "pending_quantity": i["pending_quantity"],
            }
            for i in items
        ],
        "schedule": [
            {
                "obligation_id": o["id"],
                "seq": o["seq"],
                "kind": o["kind"],  # instalment, or late_fee (the order's late fees, one row)
                "due_date": o["due_date"].isoformat(),
                "principal": o["principal"],
                "fee": o["fee"],
                "principal_paid": o["principal_paid"],
                "fee_paid": o["fee_paid"],
                "status": o["status"],
            }
            for o in schedule
        ],
        "decision": None
        if decision is None
        else {
            "id": decision["id"],
            "outcome": decision["outcome"],
            "approved_amount": decision["approved_amount"],
            "reasons": decision["reasons"],
            "versions": decision["versions"],
        },
    }


RISK_CHECK = {
    "code": "RISK_CHECK",
    "en": "The order did not pass a risk check.",
    "zh": "订单未通过风险校验。",
}
NOT_AVAILABLE = {
    "code": "NOT_AVAILABLE",
    "en": "Pay later is not available to this customer for this order.",
    "zh": "该顾客本单暂不可使用先用后付。",
}
# What a merchant may learn: its own caps and the basket's. Anything about the customer's credit
# (overdue bills, grade, own ceiling, pause, affordability) is the customer's private matter, and a
# merchant can send an order for any customer id.
_PAYMENT_STATE = frozenset({"principal_paid", "fee_paid", "status"})
MERCHANT_VISIBLE = frozenset(
    {
        "WITHIN_LIMIT",
        "ORDER_CAP",
        "CATEGORY_CAP",
        "NEW_MERCHANT_CAP",
        "MERCHANT_EXPOSURE",
        "PLATFORM_EXPOSURE",
    }
)


def _for_merchant(reason: dict[str, Any]) -> dict[str, Any]:
    if reason["code"] in MERCHANT_VISIBLE:
        return reason
    return NOT_AVAILABLE if reason["code"] in REASONS else RISK_CHECK


def _for_actor(ctx: Ctx, view: dict[str, Any]) -> dict[str, Any]:
    """Merchants learn that a risk rule acted, not which one (a merchant in on a cash-out ring must
    not probe the rules), and nothing of the customer's credit. Customers and staff see the real
    reasons."""
    decision = view["decision"]
    if ctx.actor.role != "merchant" or decision is None:
        return view
    reasons = [_for_merchant(r) for r in decision["reasons"]]
    unique = list({r["code"]: r for r in reasons}.values())
    versions = {k: v for k, v in decision["versions"].items() if k == "policy"}
    shown = {**decision, "reasons": unique, "versions": versions}
    if decision["outcome"] == "approve_lower" and any(r["code"] not in MERCHANT_VISIBLE for r in unique):
        # a lower offer set by the customer's own situation would tell its size: a plain no
        shown |= {"outcome": "decline", "approved_amount": 0}
    # whether the customer has paid is theirs: the merchant was settled in full already
    schedule = [{k: v for k, v in i.items() if k not in _PAYMENT_STATE} for i in view.get("schedule", [])]
    return {**view, "decision": shown, "schedule": schedule}


def _can_see(ctx: Ctx, order: Any) -> bool:
    a = ctx.actor
    return (
        a.role in ("admin", "system", "risk_analyst")
        or (a.role == "merchant" and a.subject_id == order["merchant_id"])
        or (a.role == "customer" and a.subject_id == order["customer_id"])
    )


def get_order(ctx: Ctx, order_id: int) -> dict[str, Any]:
    order = ctx.conn.execute(select(orders).where(orders.c.id == order_id)).mappings().first()
    if order is None or not _can_see(ctx, order):
        raise NotFound(f"order {order_id} not found")
    items = (
        ctx.conn.execute(
            select(order_items).where(order_items.c.order_id == order_id).order_by(order_items.c.id)
        )
        .mappings()
        .all()
    )
    schedule = (
        ctx.conn.execute(
            select(obligations)
            .where(obligations.c.order_id == order_id, obligations.c.status != "closed")
            .order_by(obligations.c.seq)
        )
        .mappings()
        .all()
    )
    decision = (
        ctx.conn.execute(select(decisions).where(decisions.c.id == order["decision_id"])).mappings().first()
    )
    return _for_actor(ctx, order_view(order, list(items), list(schedule), decision))


def list_orders(
    ctx: Ctx, merchant_id: int | None = None, customer_id: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    query = select(orders.c.id).order_by(orders.c.id.desc()).limit(min(max(limit, 1), 500))
    if ctx.actor.role == "merchant":
        merchant_id = ctx.actor.subject_id
    if ctx.actor.role == "customer":
        customer_id = ctx.actor.subject_id
    if merchant_id is not None:
        query = query.where(orders.c.merchant_id == merchant_id)
    if customer_id is not None:
        query = query.where(orders.c.customer_id == customer_id)
    return [get_order(ctx, oid) for oid in ctx.conn.execute(query).scalars()]


def _lock_order(ctx: Ctx, order_id: int, *roles: str) -> tuple[Any, Any]:
    """Lock the customer's account, then the order (the fixed lock order); check the actor."""
    account = ctx.conn.execute(_LOCK_ACCOUNT_OF_ORDER, {"oid": order_id}).first()
    if account is None:
        raise NotFound(f"order {order_id} not found")
    order = ctx.conn.execute(_LOCK_ORDER, {"oid": order_id}).mappings().one()
    if not _can_see(ctx, order):
        raise NotFound(f"order {order_id} not found")
    if ctx.actor.role not in roles and ctx.actor.role not in ("admin", "system"):
        raise Forbidden(f"a {ctx.actor.role} may not do this to an order")
    last_step = max(d for d in (order["authorized_on"], order["captured_on"], order["delivered_on"]) if d)
    if ctx.today < last_step:
        raise InvalidState(f"the business date {ctx.today} is before this order's last step on {last_step}")
    return account, order


def _update_order(ctx: Ctx, order_id: int, **values: Any) -> None:
    ctx.conn.execute(_UPDATE_ORDER, {"b_id": order_id, **values})


# --- authorize -------------------------------------------------------------------------------


def _age_days(ctx: Ctx, created_at: datetime) -> int:
    """Whole days since a stored timestamp (SQLite hands back naive UTC)."""
    aware = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    return max(0, (ctx.now - aware).days)


def authorize(ctx: Ctx, cmd: AuthorizeCommand) -> dict[str, Any]:
    """Decide on a checkout; an approval places a hold on the customer's available credit."""
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
    account, merchant, facts = lock_account_with_facts(ctx, cmd.customer_id, cmd.merchant_id)
    cmd = replace(cmd, items=normalise_items(cmd.items))
    amount = validate_items(cmd.items, frozenset(merchant.categories))
    check_plan_amount(plan, amount)
    spend: dict[str, int] = {}
    for item in cmd.items:
        spend[item.category] = spend.get(item.category, 0) + item.unit_price * item.quantity
    fee = plan_fee(plan, amount) if cmd.fee_payer == "customer" else 0
    first_due = build_schedule(plan, amount, ctx.today + timedelta(days=merchant.trial_days), fee)[0]
    inputs = DecisionInput(
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
        monthly_spend=facts.monthly_spend(),
        # held orders will fall due soon after shipment: count them too, as if due next month
        due_next_month=facts.due_next_month + account.holds,
        first_instalment=first_due.total,
    )
    signals: dict[str, Any] = {}
    hits: list[RuleHit] = []
    rule_errors: list[str] = []
    if ctx.rules is not None:
        signals = gather_signals(
            ctx,
            customer_id=cmd.customer_id,
            merchant_id=cmd.merchant_id,
            amount=amount,
            plan=plan.code,
            channel=cmd.channel,
            categories=list(inputs.categories),
            items=len(cmd.items),
            account=account,
            device_id=cmd.device_id,
            address_hash=cmd.address_hash,
            needed=ctx.rules.names,
        )
        hits, rule_errors = evaluate_rules(ctx.rules, signals)
    credit = assess_checkout(
        ctx,
        facts.profile,
        account,
        inputs.days_overdue,
        ctx.settings.credit_policy,
        (facts.champion, facts.any_shadow),
    )
    decision = decide(inputs, ctx.settings.decision_policy, tuple(hits), credit, ctx.settings.credit_policy)
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
    decision_row["id"] = ctx.conn.execute(_NEW_DECISION, decision_row).scalar_one()

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
        "plan_code": plan.code,
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
    order_row["id"] = ctx.conn.execute(_NEW_ORDER, order_row).scalar_one()
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
    ctx.conn.execute(_NEW_ITEMS, item_rows)
    if decision.holds_credit:
        change_account(ctx, cmd.customer_id, holds=amount)
    audit.record(
        ctx,
        _stream(cmd.customer_id),
        f"order.{status.value}",
        "order",
        order_row["id"],
        None,
        {"amount": amount, "outcome": decision.outcome.value, "merchant_id": cmd.merchant_id},
    )
    return _for_actor(ctx, order_view(order_row, item_rows, [], decision_row))


# --- capture, deliver, cancel, expire ---------------------------------------------------------


def provisional_trial_end(ctx: Ctx, shipped_on: date, trial_days: int) -> date:
    return shipped_on + timedelta(days=ctx.settings.assumed_delivery_days + trial_days)


def open_obligations(
    ctx: Ctx, order_id: int, customer_id: int, schedule: list[Instalment], first_seq: int = 1
) -> list[int]:
    """Insert one open obligation per instalment; returns their ids in schedule order."""
    rows = [
        {
            "order_id": order_id,
            "customer_id": customer_id,
            "seq": first_seq + i,
            "due_date": s.due_date,
            "principal": s.principal,
            "fee": s.fee,
            "principal_paid": 0,
            "fee_paid": 0,
            "status": "open",
        }
        for i, s in enumerate(schedule)
    ]
    return list(ctx.conn.execute(_NEW_OBLIGATIONS, rows).scalars().all())


def capture(ctx: Ctx, order_id: int) -> dict[str, Any]:
    """Shipment: the hold becomes principal receivable per the plan's schedule; the merchant is
    owed the price less MDR (and less the fee, when it subsidises the instalments)."""
    account, order = _lock_order(ctx, order_id, "merchant")
    status = transition(OrderStatus(order["status"]), "capture")
    plan = get_plan(order["plan_code"])
    amount = order["amount"]
    fee = plan_fee(plan, amount)
    customer_fee, merchant_fee = (fee, 0) if order["fee_payer"] == "customer" else (0, fee)
    trial_end = provisional_trial_end(ctx, ctx.today, order["trial_days"])
    schedule = build_schedule(plan, amount, trial_end, fee=customer_fee)
    ids = open_obligations(ctx, order_id, order["customer_id"], schedule)
    mdr = _mdr(amount, order["mdr_bps"])
    ref = postings.OrderRef(order["customer_id"], order["merchant_id"], order_id)
    post(
        ctx,
        postings.capture(
            ctx.today,
            ref,
            [postings.ObligationAmounts(i, s.principal, s.fee) for i, s in zip(ids, schedule, strict=True)],
            mdr,
            merchant_fee,
        ),
    )
    _update_order(
        ctx,
        order_id,
        status=status.value,
        captured_on=ctx.today,
        settle_on=ctx.today + timedelta(days=order["settlement_delay_days"]),
        mdr_amount=mdr,
        merchant_fee=merchant_fee,
    )
    change_account(ctx, order["customer_id"], holds=-amount, outstanding=amount)
    use_credit_balance(ctx, order["customer_id"], account.credit_balance)
    audit.record(
        ctx,
        _stream(order["customer_id"]),
        "order.captured",
        "order",
        order_id,
        {"status": order["status"]},
        {"status": status.value, "mdr": mdr, "fee": fee},
    )
    return {"id": order_id, "status": status.value, "captured_on": ctx.today.isoformat()}


def deliver(ctx: Ctx, order_id: int, on: date | None = None, assumed: bool = False) -> dict[str, Any]:
    """Receipt confirmed (or assumed): the trial window starts and the due dates are fixed."""
    _, order = _lock_order(ctx, order_id, "merchant", "customer")
    status = transition(OrderStatus(order["status"]), "deliver")
    delivered_on = on or ctx.today
    trial_end = delivered_on + timedelta(days=order["trial_days"])
    _redate(ctx, order_id, order["plan_code"], trial_end)
    _update_order(
        ctx,
        order_id,
        status=status.value,
        delivered_on=delivered_on,
        trial_ends_on=trial_end,
        delivery_assumed=int(assumed),
    )
    audit.record(
        ctx,
        _stream(order["customer_id"]),
        "order.delivered",
        "order",
        order_id,
        {"status": order["status"]},
        {"status": status.value, "delivered_on": delivered_on.isoformat(), "assumed": assumed},
    )
    return {
        "id": order_id,
        "status": status.value,
        "delivered_on": delivered_on.isoformat(),
        "trial_ends_on": trial_end.isoformat(),
    }


def _redate(ctx: Ctx, order_id: int, plan_code: str, trial_end: date) -> None:
    # Returns close obligations from the tail and conversion retires the old ones, so the live
    # obligations are the first instalments of the current plan, in seq order.
    live = (
        ctx.conn.execute(
            select(obligations.c.id)
            .where(obligations.c.order_id == order_id, obligations.c.status.not_in(["closed", "converted"]))
            .order_by(obligations.c.seq)
        )
        .scalars()
        .all()
    )
    dates = due_dates(get_plan(plan_code), trial_end)
    ctx.conn.execute(
        obligations.update().where(obligations.c.id == bindparam("oid")).values(due_date=bindparam("d")),
        [{"oid": oid, "d": d} for oid, d in zip(live, dates, strict=False)],
    )


def _release(ctx: Ctx, order_id: int, action: str) -> dict[str, Any]:
    _, order = _lock_order(ctx, order_id, "merchant")
    status = transition(OrderStatus(order["status"]), action)
    if action == "expire" and order["expires_on"] >= ctx.today:  # e.g. a review approved meanwhile
        raise InvalidState(f"order {order_id} does not expire until after {order['expires_on']}")
    _update_order(ctx, order_id, status=status.value)
    change_account(ctx, order["customer_id"], holds=-order["amount"])
    audit.record(
        ctx,
        _stream(order["customer_id"]),
        f"order.{status.value}",
        "order",
        order_id,
        {"status": order["status"]},
        {"status": status.value},
    )
    return {"id": order_id, "status": status.value}


def cancel(ctx: Ctx, order_id: int) -> dict[str, Any]:
    """An uncaptured authorization is cancelled and its hold released."""
    return _release(ctx, order_id, "cancel")


def expire(ctx: Ctx, order_id: int) -> dict[str, Any]:
    return _release(ctx, order_id, "expire")


# --- returns ---------------------------------------------------------------------------------


def request_return(
    ctx: Ctx, order_id: int, items: dict[str, int], reason: str | None = None
) -> dict[str, Any]:
    """Within the trial: what is due on the items pauses until the merchant confirms or rejects."""
    _, order = _lock_order(ctx, order_id, "customer", "merchant")
    transition(OrderStatus(order["status"]), "request_return")
    if not within_trial(ctx.today, order["trial_ends_on"]):
        raise InvalidState(f"the trial window ended on {order['trial_ends_on']}")
    rows = ctx.conn.execute(select(order_items).where(order_items.c.order_id == order_id)).all()
    holdings = [
        ItemHolding(r.sku, r.unit_price, r.quantity, r.returned_quantity, r.pending_quantity) for r in rows
    ]
    amount = return_amount(holdings, items)
    return_id = ctx.conn.execute(
        returns.insert()
        .values(
            order_id=order_id,
            status="requested",
            amount=amount,
            items=items,
            reason=reason,
            requested_on=ctx.today,
        )
        .returning(returns.c.id)
    ).scalar_one()
    _move_item_quantities(ctx, order_id, items, pending=1, returned=0)
    _update_order(ctx, order_id, pending_return_amount=order["pending_return_amount"] + amount)
    audit.record(
        ctx,
        _stream(order["customer_id"]),
        "return.requested",
        "return",
        return_id,
        None,
        {"order_id": order_id, "items": items, "amount": amount},
    )
    return get_return(ctx, return_id)


def _move_item_quantities(
    ctx: Ctx, order_id: int, items: dict[str, int], pending: int, returned: int
) -> None:
    ctx.conn.execute(
        order_items.update()
        .where(order_items.c.order_id == order_id, order_items.c.sku == bindparam("s"))
        .values(
            pending_quantity=order_items.c.pending_quantity + bindparam("dp"),
            returned_quantity=order_items.c.returned_quantity + bindparam("dr"),
        ),
        [{"s": sku, "dp": pending * qty, "dr": returned * qty} for sku, qty in items.items()],
    )


def get_return(ctx: Ctx, return_id: int) -> dict[str, Any]:
    r = ctx.conn.execute(select(returns).where(returns.c.id == return_id)).first()
    if r is None:
        raise NotFound(f"return {return_id} not found")
    try:
        get_order(ctx, r.order_id)  # visibility check
    except NotFound:
        raise NotFound(f"return {return_id} not found") from None
    return {
        "id": r.id,
        "order_id": r.order_id,
        "status": r.status,
        "amount": r.amount,
        "items": r.items,
        "reason": r.reason,
        "requested_on": r.requested_on.isoformat(),
        "resolved_on": r.resolved_on.isoformat() if r.resolved_on else None,
    }


def _lock_return(ctx: Ctx, return_id: int) -> tuple[Any, Any, Any]:
    order_id = ctx.conn.execute(select(returns.c.order_id).where(returns.c.id == return_id)).scalar()
    if order_id is None:
        raise NotFound(f"return {return_id} not found")
    account, order = _lock_order(ctx, order_id, "merchant")
    ret = ctx.conn.execute(select(returns).where(returns.c.id == return_id).with_for_update()).one()
    if ret.status != "requested":
        raise InvalidState(f"return {return_id} is already {ret.status}")
    return account, order, ret


def reject_return(ctx: Ctx, return_id: int) -> dict[str, Any]:
    """The merchant refuses the return: the paused amounts are due again."""
    _, order, ret = _lock_return(ctx, return_id)
    ctx.conn.execute(
        returns.update().where(returns.c.id == return_id).values(status="rejected", resolved_on=ctx.today)
    )
    _move_item_quantities(ctx, order["id"], ret.items, pending=-1, returned=0)
    _update_order(ctx, order["id"], pending_return_amount=order["pending_return_amount"] - ret.amount)
    audit.record(
        ctx,
        _stream(order["customer_id"]),
        "return.rejected",
        "return",
        return_id,
        {"status": "requested"},
        {"status": "rejected"},
    )
    return get_return(ctx, return_id)


def confirm_return(ctx: Ctx, return_id: int) -> dict[str, Any]:
    """The merchant has the goods back: what is owed falls (last instalments first; paid parts are
    refunded to the credit balance), fees and MDR fall with the price, and the merchant gives
    back its share (clawed back through merchant receivable if it was already settled)."""
    account, order, ret = _lock_return(ctx, return_id)
    order_id, customer_id = order["id"], order["customer_id"]
    plan = get_plan(order["plan_code"])
    live = ctx.conn.execute(
        select(obligations).where(
            obligations.c.order_id == order_id,
            obligations.c.status != "closed",
            obligations.c.kind == "instalment",  # late fees stay what they were (charged before)
        )
    ).all()
    if any(o.status == "charged_off" for o in live):
        # the receivable was written off: cutting it would post against nothing
        raise InvalidState(
            f"order {order_id} was charged off; a return on it is settled by finance, not here"
        )
    principal_cuts = cut_from_tail(
        [Line(o.id, o.seq, o.principal, o.principal_paid) for o in live], ret.amount
    )
    remaining = order["amount"] - order["returned_amount"] - ret.amount
    # The fee was charged on the current plan's principal (after a conversion, only what was
    # unpaid then), so it falls to the plan fee on what is left of that principal. It never rises:
    # after an early-payoff waiver the fee now may already be below it.
    cut_of = {c.obligation_id: c.reduce_due for c in principal_cuts}
    plan_principal = sum(o.principal - cut_of.get(o.id, 0) for o in live if o.status != "converted")
    fee_now = sum(o.fee for o in live)
    merchant_fee_refund = 0
    if order["fee_payer"] == "merchant":
        merchant_fee_refund = max(0, order["merchant_fee"] - plan_fee(plan, remaining))
        fee_cuts: list[Cut] = []
    else:
        fee_cuts = cut_from_tail(
            [Line(o.id, o.seq, o.fee, o.fee_paid) for o in live],
            max(0, fee_now - plan_fee(plan, plan_principal)),
        )
    new_mdr = _mdr(remaining, order["mdr_bps"])
    entry = postings.confirmed_return(
        ctx.today,
        postings.OrderRef(customer_id, order["merchant_id"], order_id),
        principal_cuts,
        fee_cuts,
        order["mdr_amount"] - new_mdr,
        merchant_fee_refund,
        merchant_settled=order["settled_on"] is not None,
    )
    post(ctx, entry)
    _apply_cuts(ctx, principal_cuts, fee_cuts)
    ctx.conn.execute(
        returns.update().where(returns.c.id == return_id).values(status="confirmed", resolved_on=ctx.today)
    )
    _move_item_quantities(ctx, order_id, ret.items, pending=-1, returned=1)
    status = OrderStatus.RETURNED.value if remaining == 0 else order["status"]
    _update_order(
        ctx,
        order_id,
        status=status,
        returned_amount=order["returned_amount"] + ret.amount,
        pending_return_amount=order["pending_return_amount"] - ret.amount,
        mdr_amount=new_mdr,
        merchant_fee=order["merchant_fee"] - merchant_fee_refund,
    )
    refunded = sum(c.refund_paid for c in principal_cuts) + sum(c.refund_paid for c in fee_cuts)
    unpaid_principal_cut = sum(c.reduce_due - c.refund_paid for c in principal_cuts)
    change_account(ctx, customer_id, outstanding=-unpaid_principal_cut, credit_balance=refunded)
    use_credit_balance(ctx, customer_id, account.credit_balance + refunded)
    audit.record(
        ctx,
        _stream(customer_id),
        "return.confirmed",
        "return",
        return_id,
        {"status": "requested"},
        {"status": "confirmed", "amount": ret.amount, "refunded_to_credit_balance": refunded},
    )
    return get_return(ctx, return_id)


def _apply_cuts(ctx: Ctx, principal_cuts: list[Cut], fee_cuts: list[Cut]) -> None:
    by_id: dict[int, dict[str, int]] = {}
    for component, cuts in (("p", principal_cuts), ("f", fee_cuts)):
        for c in cuts:
            row = by_id.setdefault(
                c.obligation_id, {"oid": c.obligation_id, "p": 0, "pr": 0, "f": 0, "fr": 0}
            )
            row[component] += c.reduce_due
            row[component + "r"] += c.refund_paid
    if not by_id:
        return
    ctx.conn.execute(
        obligations.update()
        .where(obligations.c.id == bindparam("oid"))
        .values(
            principal=obligations.c.principal - bindparam("p"),
            principal_paid=obligations.c.principal_paid - bindparam("pr"),
            fee=obligations.c.fee - bindparam("f"),
            fee_paid=obligations.c.fee_paid - bindparam("fr"),
        ),
        list(by_id.values()),
    )
    ids = list(by_id)
    o = obligations.c
    ctx.conn.execute(
        obligations.update().where(o.id.in_(ids), o.principal == 0, o.fee == 0).values(status="closed")
    )
    ctx.conn.execute(
        obligations.update()
        .where(o.id.in_(ids), o.status == "open", o.principal_paid == o.principal, o.fee_paid == o.fee)
        .values(status="paid")
    )


# --- plan conversion and early payoff -------------------------------------------------------


def convert_plan(ctx: Ctx, order_id: int, plan_code: str) -> dict[str, Any]:
    """During the trial, a pay-after-trial order becomes monthly instalments with the disclosed fee."""
    _, order = _lock_order(ctx, order_id, "customer")
    transition(OrderStatus(order["status"]), "convert_plan")
    plan = get_plan(plan_code)
    if order["plan_code"] != PAY_AFTER_TRIAL.code:
        raise InvalidState("only a pay-after-trial order can be converted to instalments")
    if plan.instalments < 2:
        raise InvalidInput("convert to an instalment plan (m3, m6 or m12)")
    if not within_trial(ctx.today, order["trial_ends_on"]):
        raise InvalidState(f"the trial window ended on {order['trial_ends_on']}")
    if order["pending_return_amount"]:
        raise InvalidState("wait until the pending return is resolved")
    old = ctx.conn.execute(
        select(obligations).where(
            obligations.c.order_id == order_id,
            obligations.c.status == "open",
            obligations.c.kind == "instalment",
        )
    ).all()
    unpaid = sum(o.principal - o.principal_paid for o in old)
    if unpaid == 0:
        raise InvalidState("nothing is left to pay on this order")
    check_plan_amount(plan, unpaid)
    trial_end = order["trial_ends_on"] or provisional_trial_end(
        ctx, order["captured_on"], order["trial_days"]
    )
    schedule = build_schedule(plan, unpaid, trial_end)
    next_seq = max(o.seq for o in old)
    # the old obligation keeps what was paid on it and closes; the unpaid rest moves to the new plan
    ctx.conn.execute(
        obligations.update()
        .where(obligations.c.id == bindparam("oid"))
        .values(
            principal=obligations.c.principal_paid,
            status=bindparam("st"),
        ),
        [{"oid": o.id, "st": "converted"} for o in old],
    )
    ids = open_obligations(ctx, order_id, order["customer_id"], schedule, first_seq=next_seq + 1)
    post(
        ctx,
        postings.plan_conversion(
            ctx.today,
            postings.OrderRef(order["customer_id"], order["merchant_id"], order_id),
            [
                postings.ObligationAmounts(o.id, o.principal - o.principal_paid, 0)
                for o in old
                if o.principal > o.principal_paid
            ],
            [postings.ObligationAmounts(i, s.principal, s.fee) for i, s in zip(ids, schedule, strict=True)],
        ),
    )
    _update_order(ctx, order_id, plan_code=plan.code, fee_payer="customer")
    audit.record(
        ctx,
        _stream(order["customer_id"]),
        "order.plan_converted",
        "order",
        order_id,
        {"plan": order["plan_code"]},
        {"plan": plan.code, "fee": sum(s.fee for s in schedule)},
    )
    return get_order(ctx, order_id)


def payoff_quote(ctx: Ctx, order_id: int) -> dict[str, Any]:
    """Everything left on an order; fees of instalments not yet due are waived on early payoff."""
    ctx.actor.require("customer")  # what a customer owes is not the merchant's to read
    order = get_order(ctx, order_id)
    today = ctx.today.isoformat()
    open_items = [s for s in order["schedule"] if s["status"] == "open"]
    principal = sum(s["principal"] - s["principal_paid"] for s in open_items)
    fees_due = sum(s["fee"] - s["fee_paid"] for s in open_items if s["due_date"] <= today)
    waived = sum(s["fee"] - s["fee_paid"] for s in open_items if s["due_date"] > today)
    return {
        "order_id": order_id,
        "principal": principal,
        "fees": fees_due,
        "fees_waived": waived,
        "amount": principal + fees_due,
        "business_date": today,
    }


def payoff(ctx: Ctx, order_id: int, amount: int) -> dict[str, Any]:
    """Early payoff: waive future fees, then pay everything left on the order (any excess becomes
    credit balance)."""
    _, order = _lock_order(ctx, order_id, "customer")
    transition(OrderStatus(order["status"]), "payoff")
    quote = payoff_quote(ctx, order_id)
    if amount < quote["amount"]:
        raise InvalidAmount(f"paying off order {order_id} takes {quote['amount']}, got {amount}")
    future = ctx.conn.execute(
        select(obligations).where(
            obligations.c.order_id == order_id,
            obligations.c.status == "open",
            obligations.c.due_date > ctx.today,
            obligations.c.fee > obligations.c.fee_paid,
        )
    ).all()
    if future:
        waived = [postings.ObligationAmounts(o.id, 0, o.fee - o.fee_paid) for o in future]
        post(
            ctx,
            postings.fee_waiver(ctx.today, order["customer_id"], order_id, waived, "early payoff"),
        )
        ctx.conn.execute(
            obligations.update()
            .where(obligations.c.id == bindparam("oid"))
            .values(fee=obligations.c.fee_paid),
            [{"oid": o.id} for o in future],
        )
    # any excess stays as credit balance (not spent on other orders' future instalments and fees)
    payment = repay(ctx, order["customer_id"], amount, source="payoff", order_id=order_id)
    audit.record(
        ctx,
        _stream(order["customer_id"]),
        "order.paid_off",
        "order",
        order_id,
        None,
        {"amount": amount, "fees_waived": quote["fees_waived"]},
    )
    return {"quote": quote, "payment": payment, "order": get_order(ctx, order_id)}


# --- manual review ----------------------------------------------------------------------------


def list_reviews(ctx: Ctx, limit: int = 100) -> list[dict[str, Any]]:
    """Orders waiting for an analyst, oldest first (they expire if nobody decides)."""
    ctx.actor.require("risk_analyst")
    ids = ctx.conn.execute(
        select(orders.c.id)
        .where(orders.c.status == OrderStatus.REVIEW.value)
        .order_by(orders.c.id)
        .limit(limit)
    ).scalars()
    return [get_order(ctx, oid) for oid in ids]


def decide_review(ctx: Ctx, order_id: int, approve: bool, note: str) -> dict[str, Any]:
    """An analyst approves (the hold stays, the order is authorized) or declines (hold released)."""
    ctx.actor.require("risk_analyst")
    if not note.strip():
        raise InvalidInput("say why: the note is kept in the audit log")
    account, order = _lock_order(ctx, order_id)
    status = transition(OrderStatus(order["status"]), "approve_review" if approve else "decline_review")
    if approve and order["expires_on"] < ctx.today:
        raise InvalidState(f"the review window closed on {order['expires_on']}; the order expires")
    if approve and account.state != "active":
        raise InvalidState(f"the customer's credit line is {account.state}; decline instead")
    values: dict[str, Any] = {"status": status.value}
    if approve:  # the normal authorization window starts now
        values["expires_on"] = ctx.today + timedelta(days=ctx.settings.authorization_ttl_days)
    else:
        change_account(ctx, order["customer_id"], holds=-order["amount"])
    _update_order(ctx, order_id, **values)
    audit.record(
        ctx,
        _stream(order["customer_id"]),
        f"review.{'approved' if approve else 'declined'}",
        "order",
        order_id,
        {"status": order["status"]},
        {"status": status.value, "note": note},
    )
    return get_order(ctx, order_id)
