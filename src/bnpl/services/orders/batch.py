"""Batched checkout: many authorizations and many captures, in one transaction.

A live stream sends thousands of checkouts to one merchant in the same seconds. Each pays the same
per-transaction costs (a commit, a lock statement, a facts read, a handful of inserts), so a batch
pays them once: the accounts are locked in one statement in customer-id order, the checkout facts
of all of them are read set-based, each checkout is decided by the same steps as a single one
(``checkout.decide_checkout``: the rules, ``assess_checkout`` and the one ``decide``), and the
decisions, orders, items, holds and audit records are written a statement per kind of row.

A batch runs in rounds in which no customer, device or delivery address appears twice: a second
checkout of one customer is decided after the first is written, so its velocity counts and its
available credit include the first (exactly as two single checkouts in a row). Orders to one
merchant decided earlier in the same round are added to the merchant's velocity counts.

One bad request never fails the others: a refusal (a ``DomainError``) happens before anything of
that checkout is written, and is returned in its place. ``run_keyed`` adds the idempotency keys:
each request keeps its own key, its own stored answer and its own replay.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, TypeVar

from sqlalchemy import select, text

from bnpl.domain.errors import DomainError, IdempotencyConflict, InvalidInput, NotFound
from bnpl.risk.signals import SHARED_KEY_SIGNALS, lock_shared_keys, velocity_many
from bnpl.runtime import Ctx
from bnpl.services import audit, idempotency
from bnpl.services.access import require_order_reader
from bnpl.services.credit import checkout_feeds
from bnpl.services.exposure import lock_accounts_with_facts
from bnpl.services.orders.checkout import AuthorizeCommand, Checkout, decide_checkout, record, validate
from bnpl.services.orders.fulfilment import Capture, plan_capture, record_captures
from bnpl.services.orders.records import check_order
from bnpl.store.bulk import among_named
from bnpl.store.db import RunAgain
from bnpl.store.direct import Direct
from bnpl.store.tables import credit_accounts, orders

MAX_BATCH = 500  # requests in one transaction: bounds its locks, its statements and its latency

Result = dict[str, Any] | DomainError
C = TypeVar("C")


def _rounds(keys: Sequence[tuple[int, frozenset[Any]]]) -> list[list[int]]:
    """Indices split into rounds, in order, each round's keys disjoint (a later duplicate starts a
    new round from there: the order of a customer's checkouts is kept)."""
    rounds: list[list[int]] = []
    current: list[int] = []
    seen: set[Any] = set()
    for i, k in keys:
        if k & seen:
            rounds.append(current)
            current, seen = [], set()
        current.append(i)
        seen |= k
    if current:
        rounds.append(current)
    return rounds


def authorize_many(ctx: Ctx, cmds: Sequence[AuthorizeCommand]) -> list[Result]:
    """Decide many checkouts in this transaction; each result is the order's view (as
    ``authorize`` returns it) or the ``DomainError`` that refused it."""
    if len(cmds) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} checkouts in one batch")
    results: list[Result | None] = [None] * len(cmds)
    plans = {}
    for i, cmd in enumerate(cmds):
        try:
            plans[i] = validate(ctx, cmd)
        except DomainError as exc:
            results[i] = exc
    pairs = [(cmds[i].customer_id, cmds[i].merchant_id) for i in plans]
    accounts, merchants, facts = lock_accounts_with_facts(ctx, pairs)
    # the delivery address as the rules see it: its keyed hash (``decide_checkout`` hashes it too)
    address = {i: ctx.settings.keys.lookup("address", cmds[i].address_hash) for i in plans}
    if ctx.rules is not None and ctx.rules.names & SHARED_KEY_SIGNALS:
        # device and address locks, all at once and sorted, after the account locks: a checkout
        # in the batch then takes none of its own (they are held), and two batches never deadlock
        lock_shared_keys(ctx, [(cmds[i].device_id, address[i]) for i in plans])
    keys = [
        (i, frozenset({("c", cmds[i].customer_id), ("d", cmds[i].device_id), ("a", address[i])}))
        for i in plans
    ]
    feeds = checkout_feeds(ctx, sorted({cmds[i].customer_id for i in plans}))
    for round_ in _rounds([(i, frozenset(x for x in k if x[1] is not None)) for i, k in keys]):
        decided: list[tuple[int, Checkout]] = []
        unseen: Counter[int] = Counter()
        counts = _velocity(ctx, cmds, round_)
        for i in round_:
            cmd = cmds[i]
            try:
                account = accounts.get(cmd.customer_id)
                if account is None:
                    raise NotFound(f"customer {cmd.customer_id} not found")
                merchant = merchants.get(cmd.merchant_id)
                if merchant is None:
                    raise NotFound(f"merchant {cmd.merchant_id} not found")
                checkout = decide_checkout(
                    ctx,
                    cmd,
                    plans[i],
                    account,
                    merchant,
                    facts[cmd.customer_id, cmd.merchant_id],
                    unseen[cmd.merchant_id],
                    counts.get(i),
                    feeds.get(cmd.customer_id),
                )
            except DomainError as exc:
                results[i] = exc
                continue
            unseen[cmd.merchant_id] += 1
            decided.append((i, checkout))
            if checkout.inputs.limit != account.credit_limit:  # the line opened at this checkout
                account = accounts[cmd.customer_id] = _with(
                    account, credit_limit=checkout.inputs.limit, limit_set_by="policy"
                )
            if checkout.decision.holds_credit:  # the customer's next checkout sees this hold
                accounts[cmd.customer_id] = _with(account, holds=account.holds + checkout.inputs.amount)
        for (i, _), view in zip(decided, record(ctx, [c for _, c in decided]), strict=True):
            results[i] = view
    return [r for r in results if r is not None]


def _velocity(ctx: Ctx, cmds: Sequence[AuthorizeCommand], round_: list[int]) -> dict[int, dict[str, Any]]:
    """The velocity counts of a round's checkouts without a device or an address, read in one
    statement before any of them is written (PostgreSQL; elsewhere each checkout reads its own)."""
    if ctx.rules is None:
        return {}
    plain = [n for n in round_ if not cmds[n].device_id and not cmds[n].address_hash]
    rows = velocity_many(ctx, [(cmds[n].customer_id, cmds[n].merchant_id) for n in plain], ctx.rules.names)
    return {} if rows is None else dict(zip(plain, rows, strict=True))


def _with(row: Any, **changes: Any) -> Any:
    """A locked account row as it stands after this batch's own changes."""
    values = row._asdict() if hasattr(row, "_asdict") else dict(vars(row))
    return SimpleNamespace(**(values | changes))


def capture_many(ctx: Ctx, order_ids: Sequence[int]) -> list[Result]:
    """Capture many orders in this transaction: the customers' accounts are locked in customer-id
    order, then the orders in id order (the fixed lock order), and the captures written in bulk.
    Each result is what ``capture`` returns, or the ``DomainError`` that refused it."""
    if len(order_ids) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} captures in one batch")
    try:
        require_order_reader(ctx.actor)
    except DomainError as exc:
        return [exc for _ in order_ids]
    conn = ctx.conn
    lock_accounts, lock_orders, accounts_of, orders_of = _capture_statements(
        conn.dialect.name == "postgresql"
    )
    ids = sorted(set(order_ids))
    accounts = {a.customer_id: a for a in lock_accounts.rows(conn, {"ids": ids})}
    rows = {o.id: o._asdict() for o in lock_orders.rows(conn, {"ids": ids})}
    outcome: list[Result | None] = [None] * len(order_ids)
    todo: list[tuple[int, frozenset[Any]]] = []
    for n, oid in enumerate(order_ids):
        order = rows.get(oid)
        if order is None or order["customer_id"] not in accounts:
            outcome[n] = NotFound(f"order {oid} not found")
            continue
        todo.append((n, frozenset({order["customer_id"], ("order", oid)})))
    for round_index, round_ in enumerate(_rounds(todo)):
        if round_index:  # a customer's earlier capture in this batch moved their credit balance
            fresh = {order_ids[n] for n in round_}
            owners = sorted({rows[o]["customer_id"] for o in fresh})
            accounts |= {a.customer_id: a for a in accounts_of.rows(conn, {"ids": owners})}
            rows |= {o.id: o._asdict() for o in orders_of.rows(conn, {"ids": sorted(fresh)})}
        planned: list[tuple[int, Capture]] = []
        for n in round_:
            oid = order_ids[n]
            order = rows[oid]
            try:
                check_order(ctx, oid, order, ("merchant",))
                planned.append((n, plan_capture(ctx, order, accounts[order["customer_id"]].credit_balance)))
            except DomainError as exc:
                outcome[n] = exc
        for (n, _), view in zip(planned, record_captures(ctx, [c for _, c in planned]), strict=True):
            outcome[n] = view
    return [r for r in outcome if r is not None]


@functools.cache
def _capture_statements(pg: bool) -> tuple[Direct, Direct, Direct, Direct]:
    """The captures' statements, built once per dialect (``pg``: PostgreSQL): lock the accounts of
    the orders ``ids`` in customer-id order, then the orders in id order; and, for a later round,
    read accounts and orders again (held already)."""
    account, order = credit_accounts.c.customer_id, orders.c.id
    owners = select(orders.c.customer_id).where(among_named(pg, order, "ids")).scalar_subquery()
    return (
        Direct(select(credit_accounts).where(account.in_(owners)).order_by(account).with_for_update()),
        Direct(select(orders).where(among_named(pg, order, "ids")).order_by(order).with_for_update()),
        Direct(select(credit_accounts).where(among_named(pg, account, "ids"))),
        Direct(select(orders).where(among_named(pg, order, "ids"))),
    )


def checkout_many(ctx: Ctx, commands: Sequence[AuthorizeCommand | int]) -> list[Result]:
    """Checkouts (an ``AuthorizeCommand``) and captures (an order's id) of one caller in this
    transaction: the captures first, then the checkouts. A live stream's server sends both at once,
    and together they pay one commit, one look-up of keys and one keeping of answers. Each result
    in the place of its command."""
    captures = [n for n, c in enumerate(commands) if isinstance(c, int)]
    checkouts = [n for n, c in enumerate(commands) if not isinstance(c, int)]
    order_ids = [c for c in commands if isinstance(c, int)]
    cmds = [c for c in commands if not isinstance(c, int)]
    if order_ids and cmds:  # every account of both at once, in customer-id order (no deadlock)
        _lock_accounts(ctx, order_ids, [c.customer_id for c in cmds])
    results: dict[int, Result] = {}
    with audit.one_write(ctx):  # both kinds' audit records in one write
        if order_ids:
            results |= dict(zip(captures, capture_many(ctx, order_ids), strict=True))
        if cmds:
            results |= dict(zip(checkouts, authorize_many(ctx, cmds), strict=True))
    return [results[n] for n in range(len(commands))]


# one array of both kinds' customers, built once (an initplan), then looked up by the primary key
_LOCK_BOTH_PG = Direct(
    text(
        "SELECT customer_id FROM credit_accounts WHERE customer_id = ANY(ARRAY(SELECT customer_id "
        "FROM orders WHERE id = ANY(CAST(:order_ids AS bigint[]))) || CAST(:customer_ids AS bigint[])) "
        "ORDER BY customer_id FOR UPDATE"
    )
)


def _lock_accounts(ctx: Ctx, order_ids: Sequence[Any], customer_ids: Sequence[int]) -> None:
    """Lock the accounts of the orders' customers and of ``customer_ids`` in one statement, in
    customer-id order: the captures and the checkouts then lock again only what they hold, and
    two transactions never take the same two accounts in opposite orders. (SQLite: its write
    transactions run one at a time, and there is nothing to lock.)"""
    if ctx.conn.dialect.name != "postgresql":
        return
    params = {"order_ids": sorted(set(order_ids)), "customer_ids": sorted(set(customer_ids))}
    _LOCK_BOTH_PG.rows(ctx.conn, params)


def status_of(command: AuthorizeCommand | int) -> int:
    """A successful answer's status: 201 for a checkout (an order is created), 200 for a capture."""
    return 200 if isinstance(command, int) else 201


# --- each request with its own idempotency key -----------------------------------------------


@dataclass(frozen=True)
class Keyed:
    """One request of a batch: its Idempotency-Key, the fingerprint of its body, and its command."""

    key: str
    fingerprint: str
    command: Any


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: Any
    replayed: bool


def run_keyed(
    ctx: Ctx,
    scope: str,
    requests: Sequence[Keyed],
    work: Callable[[Ctx, list[Any]], list[Result]],
    status: int | Callable[[Any], int],
    refusal: Callable[[DomainError], tuple[int, Any]],
) -> list[Answer]:
    """Run ``work`` on the requests whose keys are new, in this transaction; a key seen before
    answers with its stored answer (a replay), a key reused with another body with a 409, a refusal
    is stored as its answer (``refusal`` turns it into status and body), so a replay gets the same.

    The keys seen before are read first; the new keys' answers are kept at the end, in one
    statement (``idempotency.keep_many``), and a key another transaction kept meanwhile runs the
    whole batch again (``RunAgain``), which then replays it. A key twice in one batch: the second
    is a replay of the first."""
    for r in requests:
        if not r.key or len(r.key) > 255:
            raise InvalidInput("Idempotency-Key must be 1 to 255 characters")
    first: dict[str, int] = {}
    for n, r in enumerate(requests):
        first.setdefault(r.key, n)
    fresh = sorted(first)
    stored = idempotency.stored_many(ctx, scope, fresh)
    todo = [first[k] for k in fresh if k not in stored]
    todo.sort()
    results = dict(zip(todo, work(ctx, [requests[n].command for n in todo]), strict=True))
    answers: dict[int, Answer] = {}
    for n, result in results.items():
        if isinstance(result, DomainError):
            code, body = refusal(result)
        else:
            code, body = (status if isinstance(status, int) else status(requests[n].command)), result
        answers[n] = Answer(code, body, False)
    new = [(requests[n].key, requests[n].fingerprint, a.status_code, a.body) for n, a in answers.items()]
    if len(idempotency.keep_many(ctx, scope, new)) < len(new):
        raise RunAgain  # a key was kept first by another transaction: run again, and replay it
    out = []
    for n, r in enumerate(requests):
        if r.key in stored:
            row = stored[r.key]
            if row.request_hash != r.fingerprint:
                out.append(Answer(*refusal(_conflict()), False))
            else:
                out.append(Answer(row.status_code, row.response, True))
        elif first[r.key] != n:
            if requests[first[r.key]].fingerprint != r.fingerprint:
                out.append(Answer(*refusal(_conflict()), False))
            else:
                a = answers[first[r.key]]
                out.append(Answer(a.status_code, a.body, True))
        else:
            out.append(answers[n])
    return out


def _conflict() -> IdempotencyConflict:
    return IdempotencyConflict("this Idempotency-Key was already used with a different request")
