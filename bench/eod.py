"""Benchmark: the set-based end of day (``bnpl.eod.run_eod``) over a large book, on
PostgreSQL, against a row-at-a-time loop.

Usage: python bench/eod.py [--obligations 1000000] [--sample 2000] [--keep]
                           [--customers N] [--warm] [--strict-seed] [--date 2026-12-15] [--timeout 3600]

Reads BNPL_DATABASE_URL (default: the local PostgreSQL test database), works in a schema of its
own and drops it at the end (unless --keep). Seeds, set-based (bench/eod_seed.py), a consistent
book with exactly --obligations open instalments (customers: 30% of that, 85% of them current;
the load runs without triggers and is then verified, unless --strict-seed), vacuums and analyses
it, then:

1. times a row-at-a-time end of day over --sample random open obligations, each in its own
   transaction (days past due, the order's late fee, the account policy; nothing is written);
2. times one ``run_eod`` for the benchmark date, everything included, and each of its steps by
   name through its step hook (a step in a transaction of its own is timed with its commit).
   By default this is the book's first end of day: every overdue account is frozen and gets a
   case. With --warm the day before runs first, untimed, so the
   timed day is a steady-state one (cases move, only newly overdue lines freeze);
3. runs it again for the same date and checks that the ledger did not change;
4. checks that every journal entry balances and every account's outstanding matches the ledger.

Progress goes to stderr; the last line of stdout is one JSON object:
  obligations             open obligations when the timed run starts
  seconds                 wall time of that run_eod
  naive_seconds_per_1000  the row-at-a-time loop, seconds per 1,000 obligations
  ratio                   how many times faster the set-based run is than that loop would be
  steps                   seconds per step of the timed run, by step name, and what is outside them
  delinquent_accounts, late_fee_orders, charged_off_accounts, cases_opened, contacts_sent,
  contacts_blocked        what the timed run did
  seed_seconds, rerun_seconds, rerun_steps, rerun_changed (tables whose counts the rerun changed)
  ledger_balanced, accounts_match_ledger, load_average (1-minute, when the timed run started)
The whole run is bounded by --timeout: past it, the benchmark's sessions are ended and its schema
dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from eod_seed import BENCH_DAY, seed
from sqlalchemy import and_, bindparam, case, func, select, text

from bnpl import eod
from bnpl.domain.account_policy import next_state
from bnpl.domain.delinquency import OrderCost, bucket_for, late_fee
from bnpl.runtime import SYSTEM, Ctx, FixedClock, Platform, Settings
from bnpl.services import credit_lines, parties
from bnpl.services.boot import open_platform
from bnpl.store.db import make_engine
from bnpl.store.migrate import upgrade
from bnpl.store.tables import audit_log, credit_accounts, customer_flags, metadata, obligations, orders

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
STARTED = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


# --- the schema -----------------------------------------------------------------------------------


def with_app_name(url: str, app: str) -> str:
    """Tag every session of this run, so a timeout can end exactly this benchmark's sessions."""
    return f"{url}{'&' if '?' in url else '?'}application_name={app}"


def create_schema(url: str, schema: str) -> None:
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    admin.dispose()


def drop_schema(url: str, schema: str, app: str) -> None:
    admin = make_engine(url)
    with admin.begin() as conn:
        # sessions left running by a timeout would hold locks the drop waits for
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :app AND pid <> pg_backend_pid()"
            ),
            {"app": app},
        )
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    admin.dispose()


def vacuum(platform: Platform, schema: str) -> float:
    """VACUUM ANALYZE the schema's tables: statistics for the planner, and visibility maps and hint
    bits set now rather than by the first reader or an autovacuum inside the measurement."""
    started = time.perf_counter()
    engine = platform.engine.execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {schema}.{table.name}")
    return round(time.perf_counter() - started, 2)


# --- what the book holds --------------------------------------------------------------------------

_COUNTS = {
    "journal_entries": "SELECT count(*) FROM journal_entries",
    "ledger_lines": "SELECT count(*) FROM ledger_lines",
    "obligations": "SELECT count(*) FROM obligations",
    "obligation_fees": "SELECT coalesce(sum(fee), 0) FROM obligations",
    "open_obligations": "SELECT count(*) FROM obligations WHERE status = 'open'",
    "audit_log": "SELECT count(*) FROM audit_log",
    "account_ageing": "SELECT count(*) FROM account_ageing",
    "roll_rates": "SELECT count(*) FROM roll_rates",
    "collection_cases": "SELECT count(*) FROM collection_cases",
    "open_cases": "SELECT count(*) FROM collection_cases WHERE status = 'open'",
    "collection_actions": "SELECT count(*) FROM collection_actions",
    "contact_attempts": "SELECT count(*) FROM contact_attempts",
    "frozen_accounts": "SELECT count(*) FROM credit_accounts WHERE state = 'frozen'",
    "blocked_accounts": "SELECT count(*) FROM credit_accounts WHERE state = 'blocked'",
    "charged_off_accounts": "SELECT count(*) FROM credit_accounts WHERE state = 'charged_off'",
    "eod_steps": "SELECT count(*) FROM eod_steps",
    # sums catch rows changed in place
    "outstanding": "SELECT coalesce(sum(outstanding), 0) FROM credit_accounts",
    "ageing_amount": "SELECT coalesce(sum(overdue_amount), 0) FROM account_ageing",
    "roll_amount": "SELECT coalesce(sum(amount), 0) FROM roll_rates",
    "case_dpd": "SELECT coalesce(sum(dpd), 0) FROM collection_cases",
    "case_agents": "SELECT coalesce(sum(agent_id), 0) FROM collection_cases",
}


def book_counts(platform: Platform) -> dict[str, int]:
    query = "SELECT " + ", ".join(f"({sql}) AS {name}" for name, sql in _COUNTS.items())
    with platform.engine.connect() as conn:
        row = conn.exec_driver_sql(query).mappings().one()
    return {name: int(value) for name, value in row.items()}


def ledger_checks(platform: Platform) -> dict[str, Any]:
    """Every entry balances and has lines; every account's outstanding is its principal receivable."""
    with platform.engine.connect() as conn:
        unbalanced = conn.exec_driver_sql(
            "SELECT count(*) FROM (SELECT entry_id FROM ledger_lines GROUP BY entry_id "
            "HAVING sum(amount) <> 0) x"
        ).scalar_one()
        empty = conn.exec_driver_sql(
            "SELECT count(*) FROM journal_entries e "
            "WHERE NOT EXISTS (SELECT 1 FROM ledger_lines l WHERE l.entry_id = e.id)"
        ).scalar_one()
        mismatched = conn.exec_driver_sql(
            "SELECT count(*) FROM credit_accounts a FULL JOIN ("
            "  SELECT customer_id, sum(amount) AS principal FROM ledger_lines"
            "  WHERE account = 'customer_principal_receivable' GROUP BY customer_id"
            ") l ON l.customer_id = a.customer_id "
            "WHERE coalesce(a.outstanding, 0) <> coalesce(l.principal, 0)"
        ).scalar_one()
    return {
        "ledger_balanced": unbalanced == 0 and empty == 0,
        "unbalanced_entries": int(unbalanced),
        "entries_without_lines": int(empty),
        "accounts_match_ledger": mismatched == 0,
        "accounts_mismatched": int(mismatched),
    }


# --- the row-at-a-time end of day, for comparison -------------------------------------------------

_o = obligations.c
_OPEN_PAST_DUE = and_(_o.status == "open", _o.kind == "instalment", _o.due_date < bindparam("today"))
_ORDER_COST = (
    select(
        orders.c.customer_id,
        orders.c.amount,
        orders.c.returned_amount,
        orders.c.pending_return_amount,
        orders.c.captured_on,
        func.sum(_o.fee).label("cost"),
        func.coalesce(func.sum(case((_OPEN_PAST_DUE, parties.OWED), else_=0)), 0).label("past_due"),
        func.min(case((_OPEN_PAST_DUE, _o.due_date))).label("first_due"),
    )
    .join(obligations, _o.order_id == orders.c.id)
    .where(orders.c.id == bindparam("oid"))
    .group_by(orders.c.id)
)
_DISPUTED = select(func.count()).where(
    customer_flags.c.customer_id == bindparam("cid"),
    customer_flags.c.kind == "dispute",
    customer_flags.c.closed_at.is_(None),
    (customer_flags.c.order_id.is_(None)) | (customer_flags.c.order_id == bindparam("oid")),
)
_ACCOUNT = select(credit_accounts.c.state, credit_accounts.c.frozen_by).where(
    credit_accounts.c.customer_id == bindparam("cid")
)
_EPISODES = select(func.count()).where(
    audit_log.c.stream == bindparam("stream"),
    audit_log.c.action == "account.frozen",
    audit_log.c.at >= bindparam("since"),
)


def naive_one(ctx: Ctx, obligation: tuple[int, int, int]) -> tuple[str, int, str | None]:
    """What a row-at-a-time end of day works out for one open obligation, without writing."""
    _, order_id, customer_id = obligation
    dpd = credit_lines.days_overdue(ctx, customer_id)
    row = ctx.conn.execute(_ORDER_COST, {"oid": order_id, "today": ctx.today}).one()
    disputed = ctx.conn.execute(_DISPUTED, {"cid": customer_id, "oid": order_id}).scalar_one()
    fee = 0
    if row.first_due is not None:
        cost = OrderCost(
            financed=row.amount - row.returned_amount,
            captured_on=row.captured_on,
            cost_so_far=int(row.cost),
            past_due=int(row.past_due),
            dpd=(ctx.today - row.first_due).days,
            paused=row.pending_return_amount > 0 or disputed > 0,
        )
        fee = late_fee(cost, ctx.today, ctx.settings.collections.late_fees)
    account = ctx.conn.execute(_ACCOUNT, {"cid": customer_id}).one()
    since = datetime.combine(ctx.today - timedelta(days=365), datetime.min.time(), UTC)
    episodes = ctx.conn.execute(_EPISODES, {"stream": f"customer:{customer_id}", "since": since}).scalar_one()
    change = next_state(account.state, account.frozen_by, dpd, int(episodes))
    return bucket_for(dpd), fee, None if change is None else change.state


def naive(platform: Platform, sample: int) -> dict[str, Any]:
    with platform.engine.connect() as conn:
        conn.exec_driver_sql("SELECT setseed(0.7)")
        picked = [
            (int(a), int(b), int(c))
            for a, b, c in conn.execute(
                text(
                    "SELECT id, order_id, customer_id FROM obligations WHERE status = 'open' "
                    "ORDER BY random() LIMIT :n"
                ),
                {"n": sample},
            )
        ]
    outcomes: dict[str, int] = defaultdict(int)
    started = time.perf_counter()
    for obligation in picked:
        bucket, fee, change = platform.run(SYSTEM, lambda ctx, o=obligation: naive_one(ctx, o))
        outcomes[bucket] += 1
        outcomes["with_late_fee"] += fee > 0
        if change is not None:
            outcomes[f"to_{change}"] += 1
    elapsed = time.perf_counter() - started
    return {
        "naive_sample": len(picked),
        "naive_seconds": round(elapsed, 3),
        "naive_seconds_per_1000": round(elapsed / max(len(picked), 1) * 1000, 3),
        "naive_outcomes": dict(sorted(outcomes.items())),
    }


# --- timing the steps of one run_eod --------------------------------------------------------------


def run_day(platform: Platform) -> tuple[dict[str, Any], float, dict[str, float]]:
    """One ``run_eod``, each of its steps timed by name through its step hook (a step in a
    transaction of its own is timed with its commit)."""
    seconds: dict[str, float] = {}

    def timed(name: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return run()
        finally:
            seconds[name] = time.perf_counter() - started

    started = time.perf_counter()
    summary = eod.run_eod(platform, on_step=timed)
    elapsed = time.perf_counter() - started
    steps = {name: round(s, 3) for name, s in seconds.items()}
    steps["unaccounted"] = round(elapsed - sum(seconds.values()), 3)
    return summary, round(elapsed, 3), steps


# --- the benchmark --------------------------------------------------------------------------------


def dig(summary: dict[str, Any], *keys: str) -> Any:
    """A value deep in run_eod's summary, or None (the steps' summaries may grow or change)."""
    for key in keys:
        if not isinstance(summary, dict):
            return None
        summary = summary.get(key)  # type: ignore[assignment]
    return summary


class Timeout(SystemExit):
    """A SystemExit: psycopg cancels the statement running (as on Ctrl-C), clean-up runs, and the
    process ends with the message."""


def on_alarm(signum: int, frame: Any) -> None:
    raise Timeout("the benchmark ran past --timeout")


def bench(platform: Platform, schema: str, args: argparse.Namespace, day: date) -> dict[str, Any]:
    say(f"seeding {args.obligations:,} open obligations for {args.customers:,} customers in {schema}")
    seeded = seed(platform, args.obligations, args.customers, day, say, strict=args.strict_seed)
    say(f"seeded in {seeded['seconds']:.1f}s; vacuum and analyse")
    vacuumed = vacuum(platform, schema)
    warm_seconds = None
    if args.warm:  # the day before, untimed: the timed day then moves cases rather than opening them
        clock: Any = platform.clock
        clock.day = day - timedelta(days=1)
        say(f"warm-up: run_eod for {clock.day}")
        started = time.perf_counter()
        eod.run_eod(platform)
        warm_seconds = round(time.perf_counter() - started, 2)
        clock.day = day
        say(f"warm-up took {warm_seconds:.1f}s; vacuum and analyse")
        vacuum(platform, schema)
    before = book_counts(platform)
    say(f"book: {before}")

    say(f"row-at-a-time loop over {args.sample:,} open obligations")
    slow = naive(platform, args.sample)
    say(f"row-at-a-time: {slow['naive_seconds_per_1000']:.2f}s per 1,000 obligations")

    say(f"run_eod for {day}")
    load = os.getloadavg()[0]
    summary, seconds, steps = run_day(platform)
    after = book_counts(platform)
    say(f"run_eod took {seconds:.1f}s: {steps}")

    say("run_eod again for the same date")
    _, rerun_seconds, rerun_steps = run_day(platform)
    again = book_counts(platform)
    say(f"rerun took {rerun_seconds:.1f}s")
    changed = {k: [after[k], again[k]] for k in after if after[k] != again[k]}
    for key in ("journal_entries", "ledger_lines"):
        if after[key] != again[key]:
            raise AssertionError(f"the rerun changed {key}: {after[key]} -> {again[key]}")
    if changed:
        say(f"WARNING: the rerun changed {changed}")
    checks = ledger_checks(platform)
    say(f"checks: {checks}")

    work = summary["steps"]
    strategy = dig(work, "collections", "strategy") or {}
    per_obligation = slow["naive_seconds_per_1000"] / 1000
    return {
        "database": "postgresql",
        "business_date": day.isoformat(),
        "obligations": before["open_obligations"],
        "customers": args.customers,
        "seconds": seconds,
        "naive_seconds_per_1000": slow["naive_seconds_per_1000"],
        "ratio": round(per_obligation * before["open_obligations"] / seconds, 1),
        "steps": steps,
        "delinquent_accounts": dig(work, "ageing", "delinquent_accounts"),
        "buckets": dig(work, "ageing", "buckets"),
        "late_fee_orders": dig(work, "late_fees", "orders"),
        "late_fee_amount": dig(work, "late_fees", "amount"),
        "accounts": work.get("accounts"),
        "charged_off_accounts": dig(work, "charge_off", "accounts"),
        "cases_opened": dig(work, "collections", "opened"),
        "contacts_sent": strategy.get("sent", 0),
        "contacts_blocked": strategy.get("blocked", 0),
        "blocked_by": strategy.get("blocked_by", {}),
        "tasks_queued": strategy.get("queued", 0),
        "merchants_flagged": summary.get("merchants_flagged"),
        "warm": args.warm,
        "warm_seconds": warm_seconds,
        "load_average": round(load, 2),
        "seed_seconds": seeded["seconds"],
        "seed_parts": seeded["parts"],
        "seed_rows": seeded["rows"],
        "vacuum_seconds": vacuumed,
        "rerun_seconds": rerun_seconds,
        "rerun_steps": rerun_steps,
        "rerun_changed": changed,
        **{k: v for k, v in slow.items() if k != "naive_seconds_per_1000"},
        "ledger_entries": again["journal_entries"],
        "ledger_lines": again["ledger_lines"],
        **checks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obligations", type=int, default=1_000_000, help="open obligations to seed")
    parser.add_argument("--customers", type=int, help="default: 30%% of --obligations")
    parser.add_argument("--sample", type=int, default=2000, help="obligations in the row-at-a-time loop")
    parser.add_argument("--keep", action="store_true", help="keep the schema (its name is printed)")
    parser.add_argument("--date", type=date.fromisoformat, default=BENCH_DAY, help="the business date")
    parser.add_argument(
        "--warm", action="store_true", help="run the day before first (untimed): a steady-state day"
    )
    parser.add_argument(
        "--strict-seed", action="store_true", help="seed with the triggers on (foreign keys, ledger guards)"
    )
    parser.add_argument("--timeout", type=int, default=3600, help="seconds before giving up")
    args = parser.parse_args()
    args.customers = args.customers or max(10, args.obligations * 3 // 10)
    url = os.environ.get("BNPL_DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        sys.exit("bench/eod.py measures PostgreSQL; set BNPL_DATABASE_URL=postgresql://...")
    schema = f"bnpl_bench_eod_{uuid.uuid4().hex[:8]}"
    app = schema  # the application_name of every session of this run
    tagged = with_app_name(url, app)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.timeout)
    create_schema(url, schema)
    platform = open_platform(
        Settings(database_url=tagged),
        clock=FixedClock(args.date),
        engine=make_engine(tagged, pool_size=4, schema=schema),
    )
    try:
        upgrade(platform.engine)
        result = bench(platform, schema, args, args.date)
    finally:
        signal.alarm(0)
        platform.dispose()
        if args.keep:
            say(f"kept schema {schema}")
        else:
            drop_schema(url, schema, app)
            say(f"dropped schema {schema}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
