"""A vocabulary for collections scenarios: customers who buy, pay or do not, end of day run day by
day, and what the book looks like afterwards (table contents without ids or timestamps), so tests
read like a collections team's log and compare books exactly."""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, select

from bnpl.domain.orders import Item
from bnpl.eod import StepHook, run_eod
from bnpl.runtime import ADMIN, SYSTEM, Actor, Platform
from bnpl.services import orders, parties, repayments
from bnpl.store import tables as t
from tests.world import World


def skipping_refreshes(name: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """An end-of-day step hook: every step runs but the last two, which refresh the checkout's
    exposure snapshots and the merchants' cash-out graph (pandas: most of a day's time).
    Collections never read either, so long scenarios leave them out."""
    if name == "exposure":
        return {"platform_outstanding": 0}
    if name == "graph":
        return {"flagged": 0}
    return run()


_SKIPPING: weakref.WeakSet[Platform] = weakref.WeakSet()


def skip_refreshes(platform: Platform) -> None:
    """From now on, :func:`run_day` and :func:`run_days` on ``platform`` skip the refreshes."""
    _SKIPPING.add(platform)


def hook_for(platform: Platform) -> StepHook | None:
    return skipping_refreshes if platform in _SKIPPING else None


def today(platform: Platform) -> date:
    return platform.clock.today()


def go_to(platform: Platform, day: date) -> None:
    platform.clock.day = day


def run_day(platform: Platform) -> dict[str, Any]:
    return run_eod(platform, on_step=hook_for(platform))


def run_days(platform: Platform, days: int) -> list[dict[str, Any]]:
    """Move the clock one day at a time and run each day's end of day."""
    out = []
    for _ in range(days):
        platform.clock.advance(1)
        out.append(run_day(platform))
    return out


def customer(platform: Platform, limit: int = 1000_00, timezone: str = "Asia/Shanghai") -> int:
    created = platform.run(ADMIN, lambda c: parties.create_customer(c, "Shopper", limit, timezone=timezone))
    return int(created["id"])


def buy(w: World, customer_id: int, amount: int, plan: str = "pay_after_trial", sku: str = "tea") -> int:
    """Authorize, ship and deliver today: a pay-after-trial bill falls due after the trial
    (the merchant's trial days), instalments a month after that."""
    cmd = orders.AuthorizeCommand(w.merchant_id, customer_id, [Item(sku, "tea", amount, 1)], plan)
    answer = w.platform.run(w.merchant, lambda c: orders.authorize(c, cmd))
    assert answer["status"] == "authorized", answer["decision"]
    w.platform.run(w.merchant, lambda c: orders.capture(c, answer["id"]))
    w.platform.run(Actor("customer", customer_id), lambda c: orders.deliver(c, answer["id"]))
    return int(answer["id"])


def pay(platform: Platform, customer_id: int, amount: int) -> dict[str, Any]:
    return platform.run(Actor("customer", customer_id), lambda c: repayments.repay(c, customer_id, amount))


def set_grade(platform: Platform, customer_id: int, grade: str) -> None:
    """A credit profile with a grade, as the bulk rescoring leaves it."""
    now = datetime.combine(today(platform), datetime.min.time(), tzinfo=UTC)
    platform.run(
        SYSTEM,
        lambda c: c.conn.execute(
            t.credit_profiles.insert().values(
                customer_id=customer_id, as_of=now, features={}, grade=grade, updated_at=now
            )
        ),
    )


def order_view(platform: Platform, order_id: int) -> dict[str, Any]:
    with platform.read(ADMIN) as c:
        return orders.get_order(c, order_id)


def account(platform: Platform, customer_id: int) -> dict[str, Any]:
    with platform.read(ADMIN) as c:
        return parties.get_customer(c, customer_id)["account"]


def owed(platform: Platform, customer_id: int) -> int:
    """Everything the customer still owes on open obligations (late fees included)."""
    o = t.obligations.c
    with platform.read() as c:
        rows = c.conn.execute(
            select(o.principal, o.fee, o.principal_paid, o.fee_paid).where(
                o.customer_id == customer_id, o.status == "open"
            )
        ).all()
    return sum(r.principal + r.fee - r.principal_paid - r.fee_paid for r in rows)


def rows(platform: Platform, table: Table, *where: Any) -> list[Any]:
    """A table's rows (matching ``where``), in primary-key order."""
    with platform.read() as c:
        return list(c.conn.execute(select(table).where(*where).order_by(*table.primary_key.columns)).all())


def balance(platform: Platform, account_name: str, **refs: int) -> int:
    """The sum of ledger lines on an account (debits positive), optionally for one customer/order."""
    ll = t.ledger_lines.c
    with platform.read() as c:
        query = select(ll.amount).where(ll.account == account_name)
        for name, value in refs.items():
            query = query.where(ll[name] == value)
        return sum(c.conn.execute(query).scalars())


# --- the book, compared exactly --------------------------------------------------------------------


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite hands back naive UTC
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _sorted(items: Any) -> list[tuple[Any, ...]]:
    return sorted((tuple(i) for i in items), key=repr)  # None sorts beside numbers and text


def book(platform: Platform) -> dict[str, list[tuple[Any, ...]]]:
    """Everything end of day writes, as sorted tuples without surrogate ids or wall-clock times.

    Ids that other rows refer to are replaced by natural keys (an obligation by its order, kind
    and seq; a case by its customer and opening day; a contact attempt by its customer, template
    and moment), so two books built the same way compare equal even when a PostgreSQL sequence
    skipped values in a rolled-back transaction."""
    with platform.read() as c:
        q = c.conn.execute
        obligation_key = {
            r.id: (r.order_id, r.kind, r.seq)
            for r in q(
                select(
                    t.obligations.c.id, t.obligations.c.order_id, t.obligations.c.kind, t.obligations.c.seq
                )
            )
        }
        case_key = {
            r.id: (r.customer_id, _iso(r.opened_on))
            for r in q(
                select(
                    t.collection_cases.c.id, t.collection_cases.c.customer_id, t.collection_cases.c.opened_on
                )
            )
        }
        ca = t.contact_attempts.c
        attempt_key = {
            r.id: (r.customer_id, r.template, _iso(r.at))
            for r in q(select(ca.id, ca.customer_id, ca.template, ca.at))
        }
        entries: dict[int, tuple[Any, ...]] = {
            e.id: (e.kind, _iso(e.business_date), e.memo) for e in q(select(t.journal_entries))
        }
        lines: dict[int, list[tuple[Any, ...]]] = {}
        for x in q(select(t.ledger_lines)):
            lines.setdefault(x.entry_id, []).append(
                (
                    x.account,
                    x.amount,
                    x.customer_id,
                    x.merchant_id,
                    x.order_id,
                    obligation_key.get(x.obligation_id),
                )
            )
        journal = _sorted((*entries[i], tuple(_sorted(lines.get(i, [])))) for i in entries)
        obligation_rows = _sorted(
            (
                r.order_id,
                r.kind,
                r.seq,
                r.customer_id,
                _iso(r.due_date),
                r.principal,
                r.fee,
                r.principal_paid,
                r.fee_paid,
                r.status,
            )
            for r in q(select(t.obligations))
        )
        cases = _sorted(
            (
                r.customer_id,
                _iso(r.opened_on),
                r.status,
                r.bucket,
                r.segment,
                r.dpd,
                r.overdue_amount,
                r.agent_id,
                _iso(r.closed_on),
                r.close_reason,
                _iso(r.agency_on),
                _iso(r.updated_on),
            )
            for r in q(select(t.collection_cases))
        )
        attempts = _sorted(
            (
                r.customer_id,
                case_key.get(r.case_id),
                r.agent_id,
                r.channel,
                r.party,
                r.purpose,
                r.template,
                r.discloses_debt,
                r.by_specialist,
                _iso(r.at),
                _iso(r.business_date),
                r.allowed,
                r.rule,
                r.reason,
                r.outcome,
                r.reached,
            )
            for r in q(select(t.contact_attempts))
        )
        actions = _sorted(
            (
                _iso(r.business_date),
                r.customer_id,
                case_key.get(r.case_id),
                r.action,
                r.channel,
                r.template,
                r.status,
                attempt_key.get(r.attempt_id),
            )
            for r in q(select(t.collection_actions))
        )
        ageing = _sorted(tuple(_iso(v) for v in r) for r in q(select(t.account_ageing)))
        rolls = _sorted(tuple(_iso(v) for v in r) for r in q(select(t.roll_rates)))
        accounts = _sorted(
            (r.customer_id, r.state, r.frozen_by, r.outstanding, r.holds, r.credit_balance, r.credit_limit)
            for r in q(select(t.credit_accounts))
        )
        promises = _sorted(
            (
                case_key.get(r.case_id),
                r.customer_id,
                r.amount,
                _iso(r.made_on),
                _iso(r.due_on),
                r.status,
                r.paid,
                _iso(r.resolved_on),
            )
            for r in q(select(t.promises))
        )
        steps = _sorted(
            (_iso(r.business_date), r.step, json.dumps(r.summary, sort_keys=True))
            for r in q(select(t.eod_steps))
        )
        audit = _sorted((r.stream, r.seq, r.action, r.entity) for r in q(select(t.audit_log)))
        orders_ = _sorted(
            (r.id, r.status, r.returned_amount, r.pending_return_amount, _iso(r.settled_on))
            for r in q(select(t.orders))
        )
    return {
        "journal": journal,
        "obligations": obligation_rows,
        "cases": cases,
        "contact_attempts": attempts,
        "collection_actions": actions,
        "account_ageing": ageing,
        "roll_rates": rolls,
        "credit_accounts": accounts,
        "promises": promises,
        "eod_steps": steps,
        "audit_log": audit,
        "orders": orders_,
    }


def assert_same_book(
    got: dict[str, list[tuple[Any, ...]]], want: dict[str, list[tuple[Any, ...]]], what: str
) -> None:
    for table in want:
        assert got[table] == want[table], f"{what}: {table} differs"
