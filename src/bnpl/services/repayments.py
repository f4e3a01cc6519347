"""Repayments: any amount at any time through the waterfall; overpayment becomes credit balance,
which later purchases and refunds use; early payoff of an order; payments that bounce or are
charged back.

Where money goes, in order: the open obligations (the waterfall), then a chargeback receivable
(a charged-back payment whose overpayment was already refunded or spent), then, for cash, bills
already charged off (recovery), and what is left becomes credit balance. So a customer never has
a credit balance and a chargeback debt at once: one always pays off the other first."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError

from bnpl.domain import postings
from bnpl.domain.allocation import Allocation, Due, allocate
from bnpl.domain.errors import Conflict, CurrencyMismatch, InvalidAmount, InvalidInput, InvalidState, NotFound
from bnpl.domain.ledger import Account, Entry, Line
from bnpl.domain.money import DEFAULT_CURRENCY, require_positive
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.services.credit_lines import change_account, lock_account
from bnpl.services.ledger import post
from bnpl.store.tables import credit_accounts, journal_entries, ledger_lines, obligations, payments

_pay = (
    obligations.update()
    .where(obligations.c.id == bindparam("oid"))
    .values(
        principal_paid=obligations.c.principal_paid + bindparam("p"),
        fee_paid=obligations.c.fee_paid + bindparam("f"),
    )
)


def open_dues(
    ctx: Ctx, customer_id: int, order_id: int | None = None, status: str = "open"
) -> tuple[list[Due], dict[int, int]]:
    """What is left to pay on each open (or charged-off) obligation, and each one's order id."""
    query = select(obligations).where(
        obligations.c.customer_id == customer_id, obligations.c.status == status
    )
    if order_id is not None:
        query = query.where(obligations.c.order_id == order_id)
    dues: list[Due] = []
    orders_of: dict[int, int] = {}
    for o in ctx.conn.execute(query):
        dues.append(Due(o.id, o.due_date, o.seq, o.fee - o.fee_paid, o.principal - o.principal_paid))
        orders_of[o.id] = o.order_id
    return dues, orders_of


def apply_money(
    ctx: Ctx,
    customer_id: int,
    amount: int,
    from_credit_balance: bool,
    order_id: int | None = None,
    memo: str = "",
) -> tuple[int | None, list[Allocation], int]:
    """Allocate ``amount`` over the customer's open obligations and post it.

    The caller holds the account lock. Returns the entry id (None if nothing moved), the
    allocations and what was left over (credited to the balance when the money is new cash).
    """
    dues, orders_of = open_dues(ctx, customer_id, order_id)
    allocs, left = allocate(amount, dues, ctx.settings.waterfall)
    chargeback = min(left, chargeback_owed(ctx, customer_id)) if left else 0
    left -= chargeback
    recovered: list[Allocation] = []
    if left and not from_credit_balance:
        # after a charge-off, money still comes in: it pays what was written off, as recovery
        written_off, written_off_orders = open_dues(ctx, customer_id, order_id, status="charged_off")
        recovered, left = allocate(left, written_off, ctx.settings.waterfall)
        orders_of |= written_off_orders
    overpaid = 0 if from_credit_balance else left
    if not allocs and not chargeback and not recovered and not overpaid:
        return None, [], left
    entry = postings.repayment(
        ctx.today,
        customer_id,
        [(a, orders_of[a.obligation_id]) for a in allocs],
        overpaid,
        from_credit_balance,
        memo,
        recovered=[(a, orders_of[a.obligation_id]) for a in recovered],
        chargeback=chargeback,
    )
    entry_id = post(ctx, entry)
    per_obligation: dict[int, dict[str, int]] = defaultdict(lambda: {"p": 0, "f": 0})
    for a in [*allocs, *recovered]:
        per_obligation[a.obligation_id]["p" if a.component == "principal" else "f"] += a.amount
    if per_obligation:
        ctx.conn.execute(_pay, [{"oid": oid, **v} for oid, v in per_obligation.items()])
        _close_paid(ctx, list(per_obligation))
    principal_paid = sum(a.amount for a in allocs if a.component == "principal")
    used = sum(a.amount for a in allocs) + chargeback
    credit_change = overpaid - (used if from_credit_balance else 0)
    change_account(
        ctx,
        customer_id,
        outstanding=-principal_paid,
        credit_balance=credit_change,
        chargeback_owed=-chargeback,
    )
    return entry_id, allocs, left


def chargeback_owed(ctx: Ctx, customer_id: int) -> int:
    """What the customer owes again from charged-back payments (the caller holds the account lock)."""
    return int(
        ctx.conn.execute(
            select(credit_accounts.c.chargeback_owed).where(credit_accounts.c.customer_id == customer_id)
        ).scalar_one()
    )


def _close_paid(ctx: Ctx, obligation_ids: list[int]) -> None:
    if obligation_ids:
        ctx.conn.execute(
            obligations.update()
            .where(
                obligations.c.id.in_(obligation_ids),
                obligations.c.status == "open",
                obligations.c.principal_paid == obligations.c.principal,
                obligations.c.fee_paid == obligations.c.fee,
            )
            .values(status="paid")
        )


def use_credit_balance(ctx: Ctx, customer_id: int, credit_balance: int) -> None:
    """Spend an existing credit balance on open obligations and any chargeback owed (after a
    purchase, a return or a reversal)."""
    if credit_balance > 0:
        apply_money(
            ctx,
            customer_id,
            credit_balance,
            from_credit_balance=True,
            memo="credit balance applied",
        )


def repay(
    ctx: Ctx,
    customer_id: int,
    amount: int,
    currency: str = DEFAULT_CURRENCY,
    provider_ref: str | None = None,
    source: str = "api",
    order_id: int | None = None,
) -> dict[str, Any]:
    """Money received from the customer. ``provider_ref`` makes a provider's payment count once;
    ``order_id`` keeps the allocation to one order (early payoff)."""
    ctx.actor.require("customer", "provider")
    if ctx.actor.role == "customer" and ctx.actor.subject_id != customer_id:
        raise NotFound(f"customer {customer_id} not found")
    require_positive(amount)
    if currency != DEFAULT_CURRENCY:
        raise CurrencyMismatch(f"repayments are in {DEFAULT_CURRENCY}, not {currency}")
    lock_account(ctx, customer_id)
    if provider_ref is not None:
        seen = ctx.conn.execute(select(payments).where(payments.c.provider_ref == provider_ref)).first()
        if seen is not None:
            if seen.customer_id != customer_id or seen.amount != amount:
                raise Conflict(f"payment {provider_ref} was already recorded with different details")
            return payment_view(ctx, seen.id, replayed=True)
    entry_id, _allocs, left = apply_money(ctx, customer_id, amount, False, order_id, memo=source)
    assert entry_id is not None  # a positive cash amount always posts
    try:
        payment_id = ctx.conn.execute(
            payments.insert()
            .values(
                customer_id=customer_id,
                provider_ref=provider_ref,
                amount=amount,
                currency=currency,
                source=source,
                entry_id=entry_id,
                business_date=ctx.today,
                created_at=ctx.now,
            )
            .returning(payments.c.id)
        ).scalar_one()
    except IntegrityError as exc:
        # One provider payment id for two customers at once: each locked its own account, so on
        # PostgreSQL both passed the check above, and the unique index made this one wait for the
        # other and then refused it. It is the check's conflict (the transaction rolls back).
        if provider_ref is None or not _provider_ref_taken(exc):
            raise
        raise Conflict(f"payment {provider_ref} was already recorded with different details") from exc
    audit.record(
        ctx,
        f"customer:{customer_id}",
        "payment.received",
        "payment",
        payment_id,
        None,
        {"amount": amount, "allocated": amount - left, "to_credit_balance": left, "source": source},
    )
    return payment_view(ctx, payment_id)


def _provider_ref_taken(exc: IntegrityError) -> bool:
    """Whether ``exc`` is the unique index on ``payments.provider_ref`` (PostgreSQL names the
    constraint; SQLite, whose writers never race, would name the column)."""
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    return constraint == "uq_payments_provider_ref" or "payments.provider_ref" in str(exc.orig)


def payment_view(ctx: Ctx, payment_id: int, replayed: bool = False) -> dict[str, Any]:
    p = ctx.conn.execute(select(payments).where(payments.c.id == payment_id)).one()
    lines = ctx.conn.execute(
        select(ledger_lines).where(ledger_lines.c.entry_id == p.entry_id, ledger_lines.c.amount < 0)
    ).all()
    allocations = [
        {
            "order_id": x.order_id,
            "obligation_id": x.obligation_id,
            "component": {
                Account.CUSTOMER_FEE.value: "fee",
                Account.RECOVERY_INCOME.value: "recovery",  # on a charged-off bill
            }.get(x.account, "principal"),
            "amount": -x.amount,
        }
        for x in lines
        if x.obligation_id is not None
    ]
    to_credit = sum(-x.amount for x in lines if x.account == Account.CUSTOMER_CREDIT.value)
    to_chargeback = sum(-x.amount for x in lines if x.account == Account.CUSTOMER_CHARGEBACK.value)
    return {
        "id": p.id,
        "customer_id": p.customer_id,
        "amount": p.amount,
        "currency": p.currency,
        "provider_ref": p.provider_ref,
        "business_date": p.business_date.isoformat(),
        "allocations": allocations,
        "to_credit_balance": to_credit,
        "to_chargeback": to_chargeback,
        "replayed": replayed,
    }


def refund_credit_balance(ctx: Ctx, customer_id: int, amount: int) -> dict[str, Any]:
    """Pay (part of) a customer's credit balance back out to them."""
    ctx.actor.require("customer")
    if ctx.actor.role == "customer" and ctx.actor.subject_id != customer_id:
        raise NotFound(f"customer {customer_id} not found")
    require_positive(amount)
    account = lock_account(ctx, customer_id)
    if amount > account.credit_balance:
        raise InvalidAmount(f"credit balance is {account.credit_balance}, cannot refund {amount}")
    entry_id = post(ctx, postings.credit_refund(ctx.today, customer_id, amount))
    change_account(ctx, customer_id, credit_balance=-amount)
    audit.record(
        ctx,
        f"customer:{customer_id}",
        "credit_balance.refunded",
        "customer",
        customer_id,
        {"credit_balance": account.credit_balance},
        {"credit_balance": account.credit_balance - amount},
    )
    return {
        "customer_id": customer_id,
        "refunded": amount,
        "entry_id": entry_id,
        "credit_balance": account.credit_balance - amount,
    }


def reverse_payment(ctx: Ctx, payment_id: int, reason: str) -> dict[str, Any]:
    """A payment that bounced or was charged back: post the reversing entry and reopen what it paid.

    What it put in the credit balance comes back out; if that was already refunded or spent, the
    customer owes the difference again as a chargeback receivable (on the statement, paid off by
    the next payment or credit). What it paid on an earlier chargeback is owed again too. Refused
    when an obligation it paid has since been closed by a return or a plan conversion, or was
    charged off, and when it would take the customer over their limit.
    """
    ctx.actor.require("admin")
    if not reason.strip():
        raise InvalidInput("say why the payment is reversed")
    p = ctx.conn.execute(select(payments).where(payments.c.id == payment_id)).first()
    if p is None:
        raise NotFound(f"payment {payment_id} not found")
    account = lock_account(ctx, p.customer_id)
    if ctx.conn.execute(select(journal_entries.c.id).where(journal_entries.c.reverses == p.entry_id)).first():
        raise InvalidState(f"payment {payment_id} is already reversed")
    lines = ctx.conn.execute(select(ledger_lines).where(ledger_lines.c.entry_id == p.entry_id)).all()
    original = Entry(
        "repayment",
        p.business_date,
        tuple(
            Line(Account(x.account), x.amount, x.customer_id, x.merchant_id, x.order_id, x.obligation_id)
            for x in lines
        ),
    )
    overpaid = -sum(x.amount for x in lines if x.account == Account.CUSTOMER_CREDIT.value)
    chargeback_repaid = -sum(x.amount for x in lines if x.account == Account.CUSTOMER_CHARGEBACK.value)
    shortfall = max(0, overpaid - account.credit_balance)  # refunded or spent since: owed again
    paid: dict[int, dict[str, int]] = defaultdict(lambda: {"p": 0, "f": 0})
    for x in lines:
        if x.obligation_id is not None:
            paid[x.obligation_id]["f" if x.account == Account.CUSTOMER_FEE.value else "p"] += -x.amount
    if p.source == "payoff":
        raise InvalidState("an early payoff waived fees; reverse it by hand with the waiver, not here")
    principal = sum(v["p"] for v in paid.values())
    if account.outstanding + account.holds + principal > account.credit_limit:
        raise InvalidState(
            "reversing would take the customer over their limit; release holds or raise the limit first"
        )
    if paid:
        now = {o.id: o for o in ctx.conn.execute(select(obligations).where(obligations.c.id.in_(list(paid))))}
        for oid, v in paid.items():
            o = now[oid]
            if o.status not in ("open", "paid") or o.principal_paid < v["p"] or o.fee_paid < v["f"]:
                raise InvalidState(
                    f"obligation {oid} changed since this payment (a return or a conversion); "
                    "it cannot be reversed"
                )
        ctx.conn.execute(_pay, [{"oid": oid, "p": -v["p"], "f": -v["f"]} for oid, v in paid.items()])
        ctx.conn.execute(obligations.update().where(obligations.c.id.in_(list(paid))).values(status="open"))
    entry_id = post(ctx, postings.payment_reversal(original, p.entry_id, ctx.today, p.customer_id, shortfall))
    change_account(
        ctx,
        p.customer_id,
        outstanding=principal,
        credit_balance=-(overpaid - shortfall),
        chargeback_owed=shortfall + chargeback_repaid,
    )
    # a credit balance the payment did not make (a refunded return) now meets reopened bills or a
    # chargeback owed again: it pays them, as it would have on the day it arose
    use_credit_balance(ctx, p.customer_id, account.credit_balance - (overpaid - shortfall))
    audit.record(
        ctx,
        f"customer:{p.customer_id}",
        "payment.reversed",
        "payment",
        payment_id,
        None,
        {
            "amount": p.amount,
            "reason": reason,
            "entry_id": entry_id,
            "chargeback_owed_again": shortfall + chargeback_repaid,
        },
    )
    return {
        "payment_id": payment_id,
        "reversal_entry_id": entry_id,
        "amount": p.amount,
        "reason": reason,
        "chargeback_owed": chargeback_owed(ctx, p.customer_id),  # the customer's, after this
    }


def paid_between(ctx: Ctx, customer_id: int, first: date, last: date | None = None) -> int:
    """What the customer paid (business dates ``first`` to ``last``), leaving out payments that
    were reversed (bounced or charged back): they kept no promise and settled nothing."""
    reversed_entries = select(journal_entries.c.reverses).where(journal_entries.c.reverses.is_not(None))
    query = select(func.coalesce(func.sum(payments.c.amount), 0)).where(
        payments.c.customer_id == customer_id,
        payments.c.business_date >= first,
        payments.c.entry_id.not_in(reversed_entries),
    )
    if last is not None:
        query = query.where(payments.c.business_date <= last)
    return int(ctx.conn.execute(query).scalar_one())
