"""Ledger invariants, recomputed from lines. Returns readable problems instead of stopping at the
first one, so a finance user sees everything wrong at once.

1. every journal entry balances;
2. each customer's receivable (principal and fee) equals what their open obligations leave to pay,
   and each obligation's ledger balance equals its unpaid amounts; the one receivable outside any
   obligation, a chargeback owed again (a charged-back payment whose overpayment was already
   refunded or spent), is the customer's alone, equals the account's ``chargeback_owed`` and never
   stands beside a credit balance (one pays off the other);
3. the cached outstanding, holds and credit balance match the ledger and the open authorizations,
   and available credit = limit − outstanding − holds is never below zero.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from bnpl.domain.ledger import Account
from bnpl.domain.orders import HOLDING_STATUSES
from bnpl.runtime import Ctx
from bnpl.store.tables import credit_accounts, journal_entries, ledger_lines, obligations, orders


def check_ledger(ctx: Ctx) -> dict[str, Any]:
    problems: list[str] = []
    ll = ledger_lines.c
    unbalanced = ctx.conn.execute(
        select(ll.entry_id, func.sum(ll.amount)).group_by(ll.entry_id).having(func.sum(ll.amount) != 0)
    ).all()
    problems += [f"entry {e} does not balance (off by {s})" for e, s in unbalanced]
    empty = ctx.conn.execute(
        select(func.count())
        .select_from(journal_entries)
        .where(~select(ll.entry_id).where(ll.entry_id == journal_entries.c.id).exists())
    ).scalar_one()
    if empty:
        problems.append(f"{empty} journal entries have no lines")

    per_obligation: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for oid, account, total in ctx.conn.execute(
        select(ll.obligation_id, ll.account, func.sum(ll.amount))
        .where(
            ll.obligation_id.is_not(None),
            ll.account.in_([Account.CUSTOMER_PRINCIPAL.value, Account.CUSTOMER_FEE.value]),
        )
        .group_by(ll.obligation_id, ll.account)
    ):
        per_obligation[oid][0 if account == Account.CUSTOMER_PRINCIPAL.value else 1] += int(total)
    o = obligations.c
    for row in ctx.conn.execute(select(o.id, o.principal, o.principal_paid, o.fee, o.fee_paid, o.status)):
        want = [row.principal - row.principal_paid, row.fee - row.fee_paid]
        if row.status == "open" and per_obligation.pop(row.id, [0, 0]) != want:
            problems.append(f"obligation {row.id}: ledger receivable differs from unpaid {want}")
        elif row.status != "open" and per_obligation.pop(row.id, [0, 0]) != [0, 0]:
            problems.append(f"obligation {row.id} is {row.status} but still has a ledger balance")
        if min(want) < 0:
            problems.append(f"obligation {row.id} is overpaid")
        if min(row.principal_paid, row.fee_paid) < 0:
            problems.append(f"obligation {row.id} has a negative amount paid")
        if row.status == "open" and want == [0, 0] and (row.principal or row.fee):
            problems.append(f"obligation {row.id} is fully paid but still open")
    problems += [
        f"ledger lines name unknown obligation {oid}" for oid, v in per_obligation.items() if v != [0, 0]
    ]
    stray = ctx.conn.execute(
        select(func.count())
        .select_from(ledger_lines)
        .where(
            ll.account == Account.CUSTOMER_CHARGEBACK.value,
            (ll.customer_id.is_(None)) | (ll.obligation_id.is_not(None)),
        )
    ).scalar_one()
    if stray:
        problems.append(f"{stray} chargeback receivable lines lack a customer or name an obligation")

    ledger_by_customer: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for cid, account, total in ctx.conn.execute(
        select(ll.customer_id, ll.account, func.sum(ll.amount))
        .where(ll.customer_id.is_not(None))
        .group_by(ll.customer_id, ll.account)
    ):
        ledger_by_customer[cid][account] += int(total)
    holds = dict(
        ctx.conn.execute(
            select(orders.c.customer_id, func.sum(orders.c.amount))
            .where(orders.c.status.in_(HOLDING_STATUSES))
            .group_by(orders.c.customer_id)
        ).all()
    )
    customers = 0
    for acc in ctx.conn.execute(select(credit_accounts)):
        customers += 1
        led = ledger_by_customer.get(acc.customer_id, {})
        principal = led.get(Account.CUSTOMER_PRINCIPAL.value, 0)
        credit = -led.get(Account.CUSTOMER_CREDIT.value, 0)
        chargeback = led.get(Account.CUSTOMER_CHARGEBACK.value, 0)
        if acc.outstanding != principal:
            problems.append(
                f"customer {acc.customer_id}: outstanding {acc.outstanding} but ledger says {principal}"
            )
        if acc.credit_balance != credit:
            problems.append(
                f"customer {acc.customer_id}: credit balance {acc.credit_balance} but ledger says {credit}"
            )
        if acc.chargeback_owed != chargeback:
            problems.append(
                f"customer {acc.customer_id}: chargeback owed {acc.chargeback_owed} "
                f"but ledger says {chargeback}"
            )
        if acc.credit_balance > 0 and acc.chargeback_owed > 0:
            problems.append(f"customer {acc.customer_id}: a credit balance and a chargeback owed at once")
        if acc.holds != int(holds.get(acc.customer_id, 0)):
            problems.append(
                f"customer {acc.customer_id}: holds {acc.holds} but open authorizations sum to "
                f"{holds.get(acc.customer_id, 0)}"
            )
        if acc.outstanding + acc.holds > acc.credit_limit:
            problems.append(
                f"customer {acc.customer_id}: outstanding + holds exceed the limit {acc.credit_limit}"
            )
        if min(acc.outstanding, acc.holds, acc.credit_balance, acc.chargeback_owed) < 0:
            problems.append(f"customer {acc.customer_id}: a negative cached balance")
    entries = ctx.conn.execute(select(func.count()).select_from(journal_entries)).scalar_one()
    return {"ok": not problems, "entries": entries, "customers": customers, "problems": problems}
