"""The journal entry for each business event. Pure functions from amounts to balanced entries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from bnpl.domain.allocation import Allocation, Cut
from bnpl.domain.ledger import Account, Entry, EntryBuilder, Line, reversal


@dataclass(frozen=True, slots=True)
class OrderRef:
    customer_id: int
    merchant_id: int
    order_id: int


@dataclass(frozen=True, slots=True)
class ObligationAmounts:
    obligation_id: int
    principal: int
    fee: int


def _receivable(b: EntryBuilder, ref: OrderRef, obligations: Sequence[ObligationAmounts], sign: int) -> None:
    """Principal and fee receivable per obligation: debited (+1) when owed, credited (-1) when not."""
    post = b.debit if sign > 0 else b.credit
    for o in obligations:
        refs = {"customer_id": ref.customer_id, "order_id": ref.order_id, "obligation_id": o.obligation_id}
        post(Account.CUSTOMER_PRINCIPAL, o.principal, **refs)
        post(Account.CUSTOMER_FEE, o.fee, **refs)


def capture(
    day: date,
    ref: OrderRef,
    obligations: Sequence[ObligationAmounts],
    mdr: int,
    merchant_fee: int,
) -> Entry:
    """Shipment: the customer owes the schedule, the merchant is owed the price less MDR and any
    fee it pays for the customer (商家贴息)."""
    principal = sum(o.principal for o in obligations)
    customer_fee = sum(o.fee for o in obligations)
    m, o_id = ref.merchant_id, ref.order_id
    b = EntryBuilder("capture", day, f"order {o_id} shipped")
    _receivable(b, ref, obligations, +1)
    b.credit(Account.MERCHANT_PAYABLE, principal - mdr, merchant_id=m, order_id=o_id)
    b.debit(Account.MERCHANT_PAYABLE, merchant_fee, merchant_id=m, order_id=o_id)
    b.credit(Account.MDR_INCOME, mdr, merchant_id=m, order_id=o_id)
    b.credit(Account.FEE_INCOME, customer_fee + merchant_fee, order_id=o_id)
    return b.build()


def repayment(
    day: date,
    customer_id: int,
    allocations: Sequence[tuple[Allocation, int]],
    overpaid: int,
    from_credit_balance: bool = False,
    memo: str = "",
    recovered: Sequence[tuple[Allocation, int]] = (),
    chargeback: int = 0,
) -> Entry:
    """Money in (cash, or the customer's credit balance) allocated to obligations.

    ``allocations`` pairs each allocation with its order id; ``chargeback`` pays off a chargeback
    receivable; ``overpaid`` becomes credit balance; ``recovered`` is money on obligations already
    charged off: recovery income.
    """
    source = Account.CUSTOMER_CREDIT if from_credit_balance else Account.CASH
    total = (
        sum(a.amount for a, _ in allocations) + sum(a.amount for a, _ in recovered) + chargeback + overpaid
    )
    kind = "apply_credit" if from_credit_balance else "repayment"
    b = EntryBuilder(kind, day, memo)
    b.debit(source, total, customer_id=customer_id if from_credit_balance else None)
    for a, order_id in allocations:
        account = Account.CUSTOMER_FEE if a.component == "fee" else Account.CUSTOMER_PRINCIPAL
        b.credit(
            account,
            a.amount,
            customer_id=customer_id,
            order_id=order_id,
            obligation_id=a.obligation_id,
        )
    for a, order_id in recovered:
        b.credit(
            Account.RECOVERY_INCOME,
            a.amount,
            customer_id=customer_id,
            order_id=order_id,
            obligation_id=a.obligation_id,
        )
    b.credit(Account.CUSTOMER_CHARGEBACK, chargeback, customer_id=customer_id)
    b.credit(Account.CUSTOMER_CREDIT, overpaid, customer_id=customer_id)
    return b.build()


def payment_reversal(original: Entry, entry_id: int, day: date, customer_id: int, shortfall: int) -> Entry:
    """A payment that bounced or was charged back (``original``, stored under ``entry_id``),
    undone line by line.

    What the payment put in the customer's credit balance comes back out of it; the part of that
    already refunded or spent (``shortfall``) is no longer there to take back, so the customer owes
    it again: chargeback receivable, paid off like any other debt.
    """
    undone = reversal(original, entry_id, day)
    if shortfall < 0:
        raise ValueError(f"a shortfall cannot be negative: {shortfall}")
    lines: list[Line] = []
    left = shortfall
    for line in undone.lines:
        if left and line.account == Account.CUSTOMER_CREDIT and line.amount > 0:
            moved = min(left, line.amount)
            if line.amount > moved:
                lines.append(replace(line, amount=line.amount - moved))
            lines.append(Line(Account.CUSTOMER_CHARGEBACK, moved, customer_id=customer_id))
            left -= moved
        else:
            lines.append(line)
    if left:
        raise ValueError(f"the payment put {shortfall - left} in the credit balance, not {shortfall}")
    return replace(undone, lines=tuple(lines))


def confirmed_return(
    day: date,
    ref: OrderRef,
    principal_cuts: Sequence[Cut],
    fee_cuts: Sequence[Cut],
    mdr_refund: int,
    merchant_fee_refund: int,
    merchant_settled: bool,
) -> Entry:
    """Goods back: what the customer owes falls (paid parts are refunded to their credit balance),
    and the merchant gives back the price less the MDR and subsidy it no longer owes. After
    settlement the merchant's share is clawed back through merchant receivable."""
    c, m, o_id = ref.customer_id, ref.merchant_id, ref.order_id
    returned = sum(x.reduce_due for x in principal_cuts)
    fee_cut = sum(x.reduce_due for x in fee_cuts)
    refund = sum(x.refund_paid for x in principal_cuts) + sum(x.refund_paid for x in fee_cuts)
    b = EntryBuilder("return", day, f"return on order {o_id}")
    for x in principal_cuts:
        b.credit(
            Account.CUSTOMER_PRINCIPAL,
            x.reduce_due - x.refund_paid,
            customer_id=c,
            order_id=o_id,
            obligation_id=x.obligation_id,
        )
    for x in fee_cuts:
        b.credit(
            Account.CUSTOMER_FEE,
            x.reduce_due - x.refund_paid,
            customer_id=c,
            order_id=o_id,
            obligation_id=x.obligation_id,
        )
    b.credit(Account.CUSTOMER_CREDIT, refund, customer_id=c, order_id=o_id)
    merchant_account = Account.MERCHANT_RECEIVABLE if merchant_settled else Account.MERCHANT_PAYABLE
    b.debit(merchant_account, returned - mdr_refund - merchant_fee_refund, merchant_id=m, order_id=o_id)
    b.debit(Account.MDR_INCOME, mdr_refund, merchant_id=m, order_id=o_id)
    b.debit(Account.FEE_INCOME, fee_cut + merchant_fee_refund, order_id=o_id)
    return b.build()


def plan_conversion(
    day: date,
    ref: OrderRef,
    closed: Sequence[ObligationAmounts],
    opened: Sequence[ObligationAmounts],
) -> Entry:
    """Pay-after-trial converted to instalments: unpaid principal moves to the new obligations and
    the disclosed fee becomes receivable."""
    o_id = ref.order_id
    b = EntryBuilder("plan_conversion", day, f"order {o_id} converted to instalments")
    _receivable(b, ref, closed, -1)
    _receivable(b, ref, opened, +1)
    fee_change = sum(o.fee for o in opened) - sum(o.fee for o in closed)
    b.credit(Account.FEE_INCOME, fee_change, order_id=o_id)
    return b.build()


def fee_waiver(
    day: date, customer_id: int, order_id: int, fees: Sequence[ObligationAmounts], memo: str
) -> Entry:
    b = EntryBuilder("fee_waiver", day, memo)
    for o in fees:
        b.credit(
            Account.CUSTOMER_FEE,
            o.fee,
            customer_id=customer_id,
            order_id=order_id,
            obligation_id=o.obligation_id,
        )
    b.debit(Account.FEE_INCOME, sum(o.fee for o in fees), order_id=order_id)
    return b.build()


def settlement(
    day: date, merchant_id: int, payables: Sequence[tuple[int, int]], receivable_offset: int
) -> Entry:
    """Pay a merchant what is due on ``payables`` (order id, amount), netting clawbacks it owes."""
    b = EntryBuilder("settlement", day, f"settlement to merchant {merchant_id}")
    for order_id, amount in payables:
        b.debit(Account.MERCHANT_PAYABLE, amount, merchant_id=merchant_id, order_id=order_id)
    total = sum(a for _, a in payables)
    b.credit(Account.MERCHANT_RECEIVABLE, receivable_offset, merchant_id=merchant_id)
    b.credit(Account.CASH, total - receivable_offset)
    return b.build()


def credit_refund(day: date, customer_id: int, amount: int) -> Entry:
    """Pay a customer's credit balance back out to them."""
    b = EntryBuilder("credit_refund", day, "credit balance refunded")
    b.debit(Account.CUSTOMER_CREDIT, amount, customer_id=customer_id)
    b.credit(Account.CASH, amount)
    return b.build()


@dataclass(frozen=True, slots=True)
class LateFee:
    customer_id: int
    order_id: int
    obligation_id: int  # the order's late-fee obligation
    amount: int


def late_fees(day: date, fees: Sequence[LateFee]) -> Entry:
    """One end of day's late fees: each order's penalty becomes fee receivable on its late-fee
    obligation, and late-fee income."""
    b = EntryBuilder("late_fees", day, f"late fees for {day.isoformat()}")
    for f in fees:
        refs = {"customer_id": f.customer_id, "order_id": f.order_id, "obligation_id": f.obligation_id}
        b.debit(Account.CUSTOMER_FEE, f.amount, **refs)
        b.credit(Account.LATE_FEE_INCOME, f.amount, order_id=f.order_id)
    return b.build()


@dataclass(frozen=True, slots=True)
class WriteOff:
    customer_id: int
    order_id: int
    obligation_id: int
    principal: int
    fee: int
    kind: str = "instalment"  # or late_fee: its fee was booked to late-fee income


def charge_off(day: date, write_offs: Sequence[WriteOff]) -> Entry:
    """Receivables no longer expected are written off to credit loss, per order (so losses can be
    read by order, merchant and channel)."""
    b = EntryBuilder("charge_off", day, f"charge-offs for {day.isoformat()}")
    for w in write_offs:
        refs = {"customer_id": w.customer_id, "order_id": w.order_id, "obligation_id": w.obligation_id}
        b.credit(Account.CUSTOMER_PRINCIPAL, w.principal, **refs)
        b.credit(Account.CUSTOMER_FEE, w.fee, **refs)
        b.debit(Account.CREDIT_LOSS, w.principal + w.fee, customer_id=w.customer_id, order_id=w.order_id)
    return b.build()


def funding_accrual(day: date, amount: int) -> Entry:
    """A day's cost of the funding facility on receivables outstanding."""
    b = EntryBuilder("funding_accrual", day, f"funding cost for {day.isoformat()}")
    b.debit(Account.FUNDING_COST, amount)
    b.credit(Account.FUNDING, amount)
    return b.build()


def collection_cost(day: date, customer_id: int, amount: int, memo: str) -> Entry:
    """What a collection action cost (a field visit): paid in cash, an expense."""
    b = EntryBuilder("collection_cost", day, memo)
    b.debit(Account.COLLECTION_COST, amount, customer_id=customer_id)
    b.credit(Account.CASH, amount)
    return b.build()


def forgiveness(day: date, write_offs: Sequence[WriteOff], memo: str) -> Entry:
    """What a hardship plan or a discounted settlement forgives: fees come off the income they
    were booked to (instalment fees and late fees, read from the caller), principal is a loss."""
    b = EntryBuilder("forgiveness", day, memo)
    for w in write_offs:
        refs = {"customer_id": w.customer_id, "order_id": w.order_id, "obligation_id": w.obligation_id}
        b.credit(Account.CUSTOMER_PRINCIPAL, w.principal, **refs)
        b.credit(Account.CUSTOMER_FEE, w.fee, **refs)
        b.debit(Account.CREDIT_LOSS, w.principal, customer_id=w.customer_id, order_id=w.order_id)
        income = Account.LATE_FEE_INCOME if w.kind == "late_fee" else Account.FEE_INCOME
        b.debit(income, w.fee, order_id=w.order_id)
    return b.build()
