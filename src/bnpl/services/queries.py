"""Named read models: the questions front ends (the console, the simulator, the CLI) ask of the
book, each a function here rather than a query of their own on the tables, and the one spelling of
"still owed". Reads that belong to a use case live with it (orders and returns a merchant may see in
``orders.views``, settlements in ``settlement``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import BigInteger, cast, func, literal, select

from bnpl.credit.registry import entry, list_models, scoring_versions
from bnpl.domain.delinquency import BUCKETS, CHARGED_OFF
from bnpl.domain.ledger import Account
from bnpl.runtime import Ctx
from bnpl.services.access import customer_scope
from bnpl.store.bulk import among, chunks
from bnpl.store.frames import as_date
from bnpl.store.tables import (
    account_ageing,
    collection_agents,
    collection_cases,
    contact_attempts,
    credit_accounts,
    customers,
    decisions,
    eod_steps,
    field_visits,
    hardship_plans,
    journal_entries,
    ledger_lines,
    merchants,
    obligations,
    orders,
)

obligation = obligations.c
ROLL_ORDER = (*BUCKETS, CHARGED_OFF)
OWED = (
    obligation.principal + obligation.fee - obligation.principal_paid - obligation.fee_paid
)  # still owed on an obligation


def owed_by_customer(ctx: Ctx, customer_id: int, status: str = "open") -> int:
    """What a customer still owes on their obligations in one status (open, or charged off)."""
    return int(
        ctx.conn.execute(
            select(func.coalesce(func.sum(OWED), 0)).where(
                obligation.customer_id == customer_id, obligation.status == status
            )
        ).scalar_one()
    )


# --- what the simulator asks each day --------------------------------------------------------------


def bills_due_by(ctx: Ctx, until: date) -> Sequence[Any]:
    """Open bills due on or before ``until`` with something still owed: order id, due date, seq,
    kind and what is owed, in order and due-date order."""
    owed = cast(func.sum(OWED), BigInteger).label("owed")
    rows = ctx.conn.execute(
        select(obligation.order_id, obligation.due_date, obligation.seq, obligation.kind, owed)
        .where(obligation.status == "open", obligation.due_date <= until)
        .group_by(obligation.order_id, obligation.due_date, obligation.seq, obligation.kind)
        .order_by(obligation.order_id, obligation.due_date, obligation.seq)
    ).all()
    return [row for row in rows if row.owed > 0]


def order_ids_in_status(ctx: Ctx, status: str) -> list[int]:
    """Orders in one status (review: waiting for an analyst)."""
    return list(ctx.conn.execute(select(orders.c.id).where(orders.c.status == status)).scalars())


def visit_ids_in_status(ctx: Ctx, status: str) -> list[int]:
    """Field visits in one status (requested: waiting for a supervisor), oldest first."""
    v = field_visits.c
    return list(ctx.conn.execute(select(v.id).where(v.status == status).order_by(v.id)).scalars())


def contacts_made_on(ctx: Ctx, day: date) -> Sequence[Any]:
    """Contacts the policy allowed on a business date: customer id, channel and whether it reached."""
    a = contact_attempts.c
    return ctx.conn.execute(
        select(a.customer_id, a.channel, a.reached).where(a.business_date == day, a.allowed == 1)
    ).all()


# --- counts and the model registry (the CLI, the demo, the console's models page) -------------------


def customer_count(ctx: Ctx) -> int:
    return int(ctx.conn.execute(select(func.count()).select_from(customers)).scalar_one())


def merchant_count(ctx: Ctx) -> int:
    return int(ctx.conn.execute(select(func.count()).select_from(merchants)).scalar_one())


def registered_models(ctx: Ctx) -> list[dict[str, Any]]:
    """Every model in the registry, oldest first, with its role and validation figures."""
    return list_models(ctx.conn)


def registered_model(ctx: Ctx, version: str) -> dict[str, Any]:
    """One model of the registry by version (NotFound: no such model)."""
    return entry(ctx.conn, version)


def scoring_models(ctx: Ctx) -> tuple[str | None, tuple[str, ...]]:
    """The champion's version (or None) and the shadow models' versions."""
    return scoring_versions(ctx.conn)


# --- the portfolio dashboard ---------------------------------------------------------------------


def snapshot_days(ctx: Ctx, limit: int = 90) -> list[Any]:
    """The last ``limit`` end-of-day snapshots, oldest first: business date and summary."""
    s = eod_steps.c
    newest_first = ctx.conn.execute(
        select(s.business_date, s.summary)
        .where(s.step == "snapshot")
        .order_by(s.business_date.desc())
        .limit(limit)
    ).all()
    return list(newest_first)[::-1]


def month_roll_rates(ctx: Ctx, days: int = 30) -> dict[str, Any]:
    """Where the accounts delinquent ``days`` before the last end of day stood at it: the roll rates
    a risk manager reads month on month (a day's rolls are nearly all "stayed in the bucket").

    ``end`` is the last closed business date, ``start`` the first one at most ``days`` before it (a
    younger book: its first); ``rows`` counts accounts by bucket at
    ``start`` then at ``end``: the bucket they are in, ``current`` if they owe nothing past due,
    ``CO`` if they were charged off. Accounts current at ``start`` have no row (their number is not
    kept per day)."""
    aged, closed = account_ageing.c, eod_steps.c.business_date
    end = ctx.conn.execute(select(func.max(closed))).scalar()
    if end is None:
        return {"start": None, "end": None, "rows": {}}
    end = as_date(end)
    start = ctx.conn.execute(select(func.min(closed)).where(closed >= end - timedelta(days=days))).scalar()
    start = as_date(start) if start is not None else end

    def buckets_on(day: date) -> dict[int, str]:
        found = ctx.conn.execute(select(aged.customer_id, aged.bucket).where(aged.business_date == day))
        return {int(customer_id): str(bucket) for customer_id, bucket in found}

    before, after = buckets_on(start), buckets_on(end)
    left = sorted(before.keys() - after.keys())
    charged_off: set[int] = set()
    for chunk in chunks(ctx.conn, left):
        charged_off |= set(
            ctx.conn.execute(
                select(credit_accounts.c.customer_id).where(
                    among(ctx.conn, credit_accounts.c.customer_id, chunk),
                    credit_accounts.c.state == "charged_off",
                )
            ).scalars()
        )
    rows: dict[str, dict[str, int]] = {}
    for customer_id, bucket in before.items():
        to = after.get(customer_id) or (CHARGED_OFF if customer_id in charged_off else "current")
        row = rows.setdefault(bucket, {})
        row[to] = row.get(to, 0) + 1
    order = {b: i for i, b in enumerate(ROLL_ORDER)}
    return {
        "start": start,
        "end": end,
        "rows": {b: rows[b] for b in sorted(rows, key=lambda b: order.get(b, len(order)))},
    }


# --- the customer 360 ----------------------------------------------------------------------------


def customer_search(
    ctx: Ctx, name_prefix: str | None = None, ids: Sequence[int] | None = None, limit: int = 25
) -> Sequence[Any]:
    """Customers (id, name) among ``ids``, or else by the start of the name (literally: % and _ are
    no wildcards), in number order; only those the actor may see (``services.access``)."""
    c = customers.c
    query = (
        select(c.id, c.name)
        .where(c.id.in_(ids) if ids is not None else c.name.startswith(name_prefix, autoescape=True))
        .order_by(c.id)
        .limit(limit)
    )
    scope = customer_scope(ctx.actor, c.id)
    if scope is not None:
        query = query.where(scope)
    return ctx.conn.execute(query).all()


def customer_header(ctx: Ctx, customer_id: int) -> Any:
    """A customer's id, name and time zone (None: no such customer)."""
    c = customers.c
    return ctx.conn.execute(select(c.id, c.name, c.timezone).where(c.id == customer_id)).first()


def customer_orders(ctx: Ctx, customer_id: int, limit: int = 30) -> Sequence[Any]:
    """A customer's latest orders (the order rows), newest first."""
    o = orders.c
    return ctx.conn.execute(
        select(orders).where(o.customer_id == customer_id).order_by(o.id.desc()).limit(limit)
    ).all()


def customer_contacts(ctx: Ctx, customer_id: int, limit: int = 40) -> Sequence[Any]:
    """A customer's latest contact attempts, allowed or blocked, newest first."""
    a = contact_attempts.c
    return ctx.conn.execute(
        select(contact_attempts).where(a.customer_id == customer_id).order_by(a.id.desc()).limit(limit)
    ).all()


def customer_cases(ctx: Ctx, customer_id: int) -> Sequence[Any]:
    """A customer's collection cases, open or closed, newest first."""
    k = collection_cases.c
    return ctx.conn.execute(
        select(collection_cases).where(k.customer_id == customer_id).order_by(k.id.desc())
    ).all()


# --- the collections desk ------------------------------------------------------------------------


def active_agents(ctx: Ctx, roles: Sequence[str] | None = None) -> Sequence[Any]:
    """Active collections staff (id, name, role), optionally of some roles only."""
    g = collection_agents.c
    query = select(g.id, g.name, g.role).where(g.active == 1)
    if roles is not None:
        query = query.where(g.role.in_(roles))
    return ctx.conn.execute(query).all()


def proposed_plan_ids(ctx: Ctx) -> list[int]:
    """Hardship plans waiting for a supervisor, oldest first."""
    h = hardship_plans.c
    return list(ctx.conn.execute(select(h.id).where(h.status == "proposed").order_by(h.id)).scalars())


# --- the dashboard's headline figures --------------------------------------------------------------


def captured_between(ctx: Ctx, first: date, last: date) -> Any:
    """What shipments put on credit from ``first`` to ``last`` (business dates, both included): the
    orders captured, their principal and the customers' instalment fees, from the capture entries
    (so repayments, returns and write-offs of the same days do not net it away)."""
    e, line = journal_entries.c, ledger_lines.c
    principal = line.account == Account.CUSTOMER_PRINCIPAL.value
    fee = line.account == Account.CUSTOMER_FEE.value
    return ctx.conn.execute(
        select(
            func.count(func.distinct(line.order_id)).label("orders"),
            cast(func.coalesce(func.sum(line.amount).filter(principal), 0), BigInteger).label("principal"),
            cast(func.coalesce(func.sum(line.amount).filter(fee), 0), BigInteger).label("fee"),
        )
        .join(journal_entries, e.id == line.entry_id)
        .where(e.kind == "capture", e.business_date >= first, e.business_date <= last, principal | fee)
    ).one()


# the open obligations' amounts, read from their own index (``ix_obligations_open``); 'open' is
# written into the statement, so that a prepared plan can still use that partial index
OUTSTANDING_NOW = select(
    cast(func.coalesce(func.sum(obligation.principal - obligation.principal_paid), 0), BigInteger),
    cast(func.coalesce(func.sum(obligation.fee - obligation.fee_paid), 0), BigInteger),
).where(obligation.status == literal("open", literal_execute=True))


def outstanding_now(ctx: Ctx) -> Any:
    """What customers owe now on open obligations: principal, fees (instalment and late) and the
    total."""
    row = ctx.conn.execute(OUTSTANDING_NOW).one()
    return {"principal": int(row[0]), "fee": int(row[1]), "total": int(row[0]) + int(row[1])}


# --- the decisions list and the queue ---------------------------------------------------------------


def decision_page_start(
    ctx: Ctx, customer_id: int | None, outcome: str | None, day: date | None, offset: int
) -> int | None:
    """The id just above the ``offset``-th decision (newest first) matching the filters, among
    those the actor may see: page N of the decisions list starts below it (``explain.search``'s
    ``before``). None: no decision that far back."""
    d = decisions.c
    query = select(d.id).order_by(d.id.desc()).offset(offset).limit(1)
    scope = customer_scope(ctx.actor, d.customer_id)
    if scope is not None:
        query = query.where(scope)
    for column, value in ((d.customer_id, customer_id), (d.outcome, outcome), (d.business_date, day)):
        if value is not None:
            query = query.where(column == value)
    found = ctx.conn.execute(query).scalar()
    return None if found is None else int(found) + 1


def customer_names(ctx: Ctx, ids: Sequence[int]) -> dict[int, str]:
    """Names of these customers (those the actor may see), by number: lists show them masked."""
    if not ids:
        return {}
    c = customers.c
    query = select(c.id, c.name).where(c.id.in_(sorted(set(ids))))
    scope = customer_scope(ctx.actor, c.id)
    if scope is not None:
        query = query.where(scope)
    return {int(i): str(n) for i, n in ctx.conn.execute(query)}
