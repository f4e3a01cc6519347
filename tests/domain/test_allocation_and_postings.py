"""The waterfall, tail cuts and journal entries: conservation of every fen."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bnpl.domain import postings
from bnpl.domain.allocation import Due, Line, Waterfall, allocate, cut_from_tail
from bnpl.domain.errors import InvalidAmount
from bnpl.domain.ledger import Account, Entry, EntryBuilder, UnbalancedEntry, balance, reversal
from bnpl.domain.ledger import Line as LedgerLine

D0 = date(2026, 1, 1)


@st.composite
def dues(draw: st.DrawFn) -> list[Due]:
    n = draw(st.integers(min_value=0, max_value=8))
    return [
        Due(
            i + 1,
            D0 + timedelta(days=draw(st.integers(0, 400))),
            i + 1,
            draw(st.integers(0, 5_000)),
            draw(st.integers(0, 500_000)),
        )
        for i in range(n)
    ]


@given(
    amount=st.integers(0, 3_000_000), ds=dues(), walk=st.sampled_from(["obligation_first", "component_first"])
)
def test_allocation_conserves_money_and_never_overpays(amount: int, ds: list[Due], walk: str) -> None:
    allocs, left = allocate(amount, ds, Waterfall(walk=walk))  # type: ignore[arg-type]
    assert sum(a.amount for a in allocs) + left == amount
    total_due = sum(d.fee + d.principal for d in ds)
    assert left == max(0, amount - total_due)
    for d in ds:
        for comp in ("fee", "principal"):
            paid = sum(a.amount for a in allocs if a.obligation_id == d.obligation_id and a.component == comp)
            assert paid <= d.outstanding(comp)  # type: ignore[arg-type]


def test_default_waterfall_pays_oldest_due_first_fee_before_principal() -> None:
    ds = [Due(2, D0 + timedelta(days=30), 2, 5, 100), Due(1, D0, 1, 5, 100)]
    allocs, left = allocate(107, ds)
    assert left == 0
    assert [(a.obligation_id, a.component, a.amount) for a in allocs] == [
        (1, "fee", 5),
        (1, "principal", 100),
        (2, "fee", 2),
    ]
    fees_first, _ = allocate(12, ds, Waterfall(walk="component_first"))
    assert [(a.obligation_id, a.component) for a in fees_first] == [(1, "fee"), (2, "fee"), (1, "principal")]
    with pytest.raises(ValueError):
        Waterfall(components=("fee",))  # type: ignore[arg-type]


@st.composite
def paid_lines(draw: st.DrawFn) -> list[Line]:
    n = draw(st.integers(1, 12))
    out = []
    for i in range(n):
        due = draw(st.integers(0, 100_000))
        out.append(Line(i + 1, i + 1, due, draw(st.integers(0, due))))
    return out


@given(lines=paid_lines(), data=st.data())
def test_tail_cut_takes_unpaid_first_and_refunds_only_the_rest(
    lines: list[Line], data: st.DataObject
) -> None:
    total = sum(x.due for x in lines)
    amount = data.draw(st.integers(0, total))
    cuts = {c.obligation_id: c for c in cut_from_tail(lines, amount)}
    assert sum(c.reduce_due for c in cuts.values()) == amount
    unpaid = sum(x.due - x.paid for x in lines)
    assert sum(c.refund_paid for c in cuts.values()) == max(0, amount - unpaid)
    for x in lines:
        c = cuts.get(x.obligation_id)
        if c:
            assert 0 <= c.refund_paid <= x.paid and c.reduce_due <= x.due
            assert c.reduce_due - c.refund_paid <= x.due - x.paid


def test_entries_must_balance_and_reversals_undo() -> None:
    with pytest.raises(UnbalancedEntry):
        Entry("x", D0, (LedgerLine(Account.CASH, 100), LedgerLine(Account.MDR_INCOME, -99)))
    with pytest.raises(InvalidAmount):
        Entry("x", D0, (LedgerLine(Account.CASH, 0),))
    e = (
        EntryBuilder("x", D0)
        .debit(Account.CASH, 100)
        .credit(Account.MDR_INCOME, 100)
        .credit(Account.FEE_INCOME, 0)
    )
    entry = e.build()
    assert len(entry.lines) == 2
    undo = reversal(entry, 7, D0)
    both = entry.lines + undo.lines
    assert balance(both, Account.CASH) == 0 and undo.reverses == 7
    assert balance(entry.lines, Account.MDR_INCOME) == 100  # credit-normal shown positive


@given(
    principals=st.lists(st.integers(1, 10**8), min_size=1, max_size=12),
    fees=st.lists(st.integers(0, 10**6), min_size=12, max_size=12),
    mdr=st.integers(0, 10**6),
    merchant_fee=st.integers(0, 10**6),
)
def test_capture_entry_always_balances(
    principals: list[int], fees: list[int], mdr: int, merchant_fee: int
) -> None:
    obs = [
        postings.ObligationAmounts(i, p, f) for i, (p, f) in enumerate(zip(principals, fees, strict=False))
    ]
    entry = postings.capture(D0, postings.OrderRef(1, 2, 3), obs, mdr, merchant_fee)
    assert sum(x.amount for x in entry.lines) == 0
    assert balance(entry.lines, Account.CUSTOMER_PRINCIPAL) == sum(principals)
    assert balance(entry.lines, Account.MERCHANT_PAYABLE) == sum(principals) - mdr - merchant_fee


@given(
    dues=dues(),
    amount=st.integers(1, 10**7),
    owed=st.integers(0, 10**6),
    spent=st.integers(0, 10**7),
)
def test_a_payment_reversal_owes_again_what_is_gone_from_the_credit_balance(
    dues: list[Due], amount: int, owed: int, spent: int
) -> None:
    allocs, left = allocate(amount, dues)
    chargeback = min(left, owed)
    overpaid = left - chargeback
    payment = postings.repayment(D0, 9, [(a, 1) for a in allocs], overpaid, chargeback=chargeback)
    assert balance(payment.lines, Account.CASH) == amount
    shortfall = min(spent, overpaid)  # refunded or spent since
    undo = postings.payment_reversal(payment, 5, D0, 9, shortfall)
    both = payment.lines + undo.lines
    assert undo.reverses == 5 and sum(x.amount for x in undo.lines) == 0
    assert balance(both, Account.CASH) == 0
    assert balance(both, Account.CUSTOMER_PRINCIPAL) == balance(both, Account.CUSTOMER_FEE) == 0
    # the credit balance loses what is still there; what is gone, and any chargeback the payment
    # had paid off, is owed again
    assert balance(both, Account.CUSTOMER_CREDIT) == shortfall
    assert balance(both, Account.CUSTOMER_CHARGEBACK) == shortfall
    assert balance(undo.lines, Account.CUSTOMER_CHARGEBACK) == shortfall + chargeback
    assert all(x.customer_id == 9 for x in undo.lines if x.account == Account.CUSTOMER_CHARGEBACK)
    with pytest.raises(ValueError):
        postings.payment_reversal(payment, 5, D0, 9, overpaid + 1)
