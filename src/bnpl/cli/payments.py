"""`bnpl repay`, `bnpl refund` and `bnpl reverse-payment`: money from and back to a customer."""

from __future__ import annotations

from typing import Annotated

import typer

from bnpl.cli.app import emit, run


def repay(customer_id: int, amount: Annotated[int, typer.Argument(help="amount in fen")]) -> None:
    """Record a repayment from a customer (allocated by the waterfall)."""
    from bnpl.services import repayments

    emit(run(lambda c: repayments.repay(c, customer_id, amount, source="cli")))


def refund(customer_id: int, amount: Annotated[int, typer.Argument(help="amount in fen")]) -> None:
    """Pay (part of) a customer's credit balance (overpayments, refunded returns) back out to them."""
    from bnpl.services import repayments

    emit(run(lambda c: repayments.refund_credit_balance(c, customer_id, amount)))


def reverse_payment(
    payment_id: int, reason: Annotated[str, typer.Option(help="why (bounced, chargeback)")]
) -> None:
    """Undo a payment with a reversing entry; what it paid is due again (and what it left as credit
    balance, if already refunded or spent, is owed again as a chargeback)."""
    from bnpl.services import repayments

    emit(run(lambda c: repayments.reverse_payment(c, payment_id, reason)))
