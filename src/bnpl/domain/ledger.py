"""Double-entry ledger values: accounts, lines and balanced journal entries.

Entries are immutable; a correction is a new (reversing) entry. Amounts are signed fen:
debits positive, credits negative, so an entry balances when its lines sum to zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from bnpl.domain.errors import InvalidAmount


class Account(StrEnum):
    CUSTOMER_PRINCIPAL = "customer_principal_receivable"
    CUSTOMER_FEE = "customer_fee_receivable"
    CUSTOMER_CREDIT = "customer_credit_balance"  # overpayments and refunds we owe the customer
    # a reversed (charged-back) payment whose overpayment was already refunded or spent: the
    # customer owes that money again, outside any obligation, until a payment or a credit clears it
    CUSTOMER_CHARGEBACK = "customer_chargeback_receivable"
    MERCHANT_PAYABLE = "merchant_payable"
    MERCHANT_RECEIVABLE = "merchant_receivable"  # clawbacks after settlement
    CASH = "cash"
    FUNDING = "funding_facility"
    MDR_INCOME = "mdr_income"
    FEE_INCOME = "instalment_fee_income"
    LATE_FEE_INCOME = "late_fee_income"
    RECOVERY_INCOME = "recovery_income"
    CREDIT_LOSS = "credit_loss_expense"
    FUNDING_COST = "funding_cost_expense"
    COLLECTION_COST = "collection_cost_expense"


# Accounts whose natural balance is a credit: shown positive when they hold a credit.
CREDIT_NORMAL = frozenset(
    {
        Account.CUSTOMER_CREDIT,
        Account.MERCHANT_PAYABLE,
        Account.FUNDING,
        Account.MDR_INCOME,
        Account.FEE_INCOME,
        Account.LATE_FEE_INCOME,
        Account.RECOVERY_INCOME,
    }
)


@dataclass(frozen=True, slots=True)
class Line:
    account: Account
    amount: int  # debit > 0, credit < 0
    customer_id: int | None = None
    merchant_id: int | None = None
    order_id: int | None = None
    obligation_id: int | None = None


class UnbalancedEntry(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    business_date: date
    lines: tuple[Line, ...]
    memo: str = ""
    reverses: int | None = None

    def __post_init__(self) -> None:
        for line in self.lines:
            if type(line.amount) is not int or line.amount == 0:
                raise InvalidAmount(f"ledger line amount must be a non-zero integer: {line}")
        if not self.lines:
            raise UnbalancedEntry(f"{self.kind}: an entry needs lines")
        total = sum(line.amount for line in self.lines)
        if total != 0:
            raise UnbalancedEntry(f"{self.kind}: debits and credits differ by {total}")


@dataclass(slots=True)
class EntryBuilder:
    """Collects debits and credits, drops zero lines, and builds a balanced :class:`Entry`."""

    kind: str
    business_date: date
    memo: str = ""
    lines: list[Line] = field(default_factory=list)

    def debit(self, account: Account, amount: int, **refs: int | None) -> EntryBuilder:
        if amount:
            self.lines.append(Line(account, amount, **refs))
        return self

    def credit(self, account: Account, amount: int, **refs: int | None) -> EntryBuilder:
        if amount:
            self.lines.append(Line(account, -amount, **refs))
        return self

    def build(self) -> Entry:
        return Entry(self.kind, self.business_date, tuple(self.lines), self.memo)


def reversal(entry: Entry, entry_id: int, business_date: date) -> Entry:
    """The entry that undoes ``entry`` (stored under ``entry_id``)."""
    lines = tuple(
        Line(x.account, -x.amount, x.customer_id, x.merchant_id, x.order_id, x.obligation_id)
        for x in entry.lines
    )
    return Entry(f"reversal:{entry.kind}", business_date, lines, f"reverses entry {entry_id}", entry_id)


def balance(lines: Iterable[Line], account: Account) -> int:
    """Balance of ``account`` in its natural sign (credit-normal accounts shown positive)."""
    total = sum(x.amount for x in lines if x.account == account)
    return -total if account in CREDIT_NORMAL else total
