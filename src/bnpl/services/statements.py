"""Statements: what a customer owes and when, and the history of their money, from the ledger."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bnpl.domain.ledger import CREDIT_NORMAL, Account
from bnpl.runtime import Ctx
from bnpl.services.parties import get_customer
from bnpl.services.queries import owed_by_customer
from bnpl.store.tables import journal_entries, ledger_lines, obligations, orders

CUSTOMER_ACCOUNTS = (
    Account.CUSTOMER_PRINCIPAL,
    Account.CUSTOMER_FEE,
    Account.CUSTOMER_CHARGEBACK,
    Account.CUSTOMER_CREDIT,
)
DESCRIPTIONS = {
    "capture": "Purchase shipped",
    "repayment": "Payment received",
    "apply_credit": "Credit balance applied",
    "return": "Return confirmed",
    "plan_conversion": "Converted to instalments",
    "fee_waiver": "Fee waived",
    "credit_refund": "Credit balance refunded",
    "reversal:repayment": "Payment reversed (bounced or charged back)",
    "late_fees": "Late fee",
    "charge_off": "Written off (still owed; payments are welcome)",
    "forgiveness": "Forgiven under a hardship plan or settlement",
}


def statement(ctx: Ctx, customer_id: int, history_limit: int = 200) -> dict[str, Any]:
    customer = get_customer(ctx, customer_id)  # also the visibility check
    o = obligations.c
    rows = ctx.conn.execute(
        select(obligations, orders.c.merchant_id, orders.c.plan_code, orders.c.pending_return_amount)
        .join(orders, orders.c.id == o.order_id)
        .where(o.customer_id == customer_id, o.status == "open")
        .order_by(o.due_date, o.seq)
    ).all()
    upcoming = [
        {
            "order_id": r.order_id,
            "obligation_id": r.id,
            "seq": r.seq,
            "kind": r.kind,  # instalment, or late_fee
            "due_date": r.due_date.isoformat(),
            "principal": r.principal - r.principal_paid,
            "fee": r.fee - r.fee_paid,
            "amount": r.principal - r.principal_paid + r.fee - r.fee_paid,
            "overdue": r.due_date < ctx.today,
            "return_pending": r.pending_return_amount > 0,
            "plan": r.plan_code,
        }
        for r in rows
    ]
    lines = ctx.conn.execute(
        select(
            ledger_lines,
            journal_entries.c.kind,
            journal_entries.c.business_date,
            journal_entries.c.memo,
        )
        .join(journal_entries, journal_entries.c.id == ledger_lines.c.entry_id)
        .where(
            ledger_lines.c.customer_id == customer_id,
            ledger_lines.c.account.in_([a.value for a in CUSTOMER_ACCOUNTS]),
        )
        .order_by(ledger_lines.c.entry_id.desc(), ledger_lines.c.id)
        .limit(history_limit)
    ).all()
    history: list[dict[str, Any]] = []
    for line in lines:
        account = Account(line.account)
        if not history or history[-1]["entry_id"] != line.entry_id:
            history.append(
                {
                    "entry_id": line.entry_id,
                    "business_date": line.business_date.isoformat(),
                    "kind": line.kind,
                    "description": DESCRIPTIONS.get(line.kind, line.kind),
                    "order_id": line.order_id,
                    "owed_change": 0,
                    "credit_balance_change": 0,
                }
            )
        signed = -line.amount if account in CREDIT_NORMAL else line.amount
        key = "credit_balance_change" if account == Account.CUSTOMER_CREDIT else "owed_change"
        history[-1][key] += signed
    # a charged-back payment whose overpayment was already refunded or spent: owed now, outside
    # any bill, and paid off by the next payment after the bills
    chargeback = customer["account"]["chargeback_owed"]
    return {
        "customer_id": customer_id,
        "business_date": ctx.today.isoformat(),
        "account": customer["account"],
        "total_owed": sum(u["amount"] for u in upcoming) + chargeback,
        "chargeback_owed": chargeback,
        "overdue": sum(u["amount"] for u in upcoming if u["overdue"]),
        "next_due": upcoming[0] if upcoming else None,
        # after a charge-off the debt is still owed (payments count as recoveries)
        "written_off_owed": owed_by_customer(ctx, customer_id, status="charged_off"),
        "upcoming": upcoming,
        "history": history,
    }
