"""Posting journal entries and reading balances back from ledger lines."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bnpl.domain.ledger import CREDIT_NORMAL, Account, Entry
from bnpl.runtime import Ctx
from bnpl.store.bulk import COPY_FROM, insert_rows
from bnpl.store.tables import journal_entries, ledger_lines

_NEW_ENTRY = journal_entries.insert().returning(journal_entries.c.id)


def post(ctx: Ctx, entry: Entry) -> int:
    """Write a balanced entry (the domain type refuses an unbalanced one) and return its id."""
    entry_id: int = ctx.conn.execute(
        _NEW_ENTRY,
        {
            "kind": entry.kind,
            "business_date": entry.business_date,
            "memo": entry.memo,
            "reverses": entry.reverses,
            "created_at": ctx.now,
        },
    ).scalar_one()
    insert_rows(ctx.conn, ledger_lines, _line_rows(entry_id, entry))
    return entry_id


def _line_rows(entry_id: int, entry: Entry) -> list[dict[str, Any]]:
    return [
        {
            "entry_id": entry_id,
            "account": line.account.value,
            "amount": line.amount,
            "customer_id": line.customer_id,
            "merchant_id": line.merchant_id,
            "order_id": line.order_id,
            "obligation_id": line.obligation_id,
        }
        for line in entry.lines
    ]


def post_many(ctx: Ctx, entries: list[Entry], copy_from: int = COPY_FROM) -> list[int]:
    """``post`` for many entries at once (a batch of captures): the entries in one statement, all
    their lines in another. Returns the entry ids in order."""
    if len(entries) == 1:
        return [post(ctx, entries[0])]
    if not entries:
        return []
    ids = insert_rows(
        ctx.conn,
        journal_entries,
        [
            {
                "kind": e.kind,
                "business_date": e.business_date,
                "memo": e.memo,
                "reverses": e.reverses,
                "created_at": ctx.now,
            }
            for e in entries
        ],
        ids=True,
        copy_from=copy_from,
    )
    rows = [row for entry_id, entry in zip(ids, entries, strict=True) for row in _line_rows(entry_id, entry)]
    insert_rows(ctx.conn, ledger_lines, rows, copy_from=copy_from)
    return ids


def account_balance(ctx: Ctx, account: Account, **refs: int) -> int:
    """Balance of ``account`` restricted to ``refs`` (customer_id=…, merchant_id=…, order_id=…),
    in its natural sign."""
    query = select(func.coalesce(func.sum(ledger_lines.c.amount), 0)).where(
        ledger_lines.c.account == account.value
    )
    for name, value in refs.items():
        query = query.where(ledger_lines.c[name] == value)
    total = int(ctx.conn.execute(query).scalar_one())
    return -total if account in CREDIT_NORMAL else total
