"""End of day for one business date: one ordered list of named steps (:data:`STEPS`), each in a
small module of this package, run by :func:`run_eod`.

Every step either changes nothing when run twice (lifecycle, settlements, ageing, accounts,
charge-off, cases, exposure: they compare the book with what it should be), or is a ``once`` step,
marked done for the date in ``eod_steps`` (in the same transaction as its work when it has one)
and skipped on a rerun. So a second run of the same date changes nothing, and a run killed
anywhere starts again where it died and ends with the same ledger as one that was never
interrupted.

Each run closes its business date (table ``business_days``): dates close once, in order; a date
before the last closed one never runs again, and a date past the open one runs only through
:func:`catch_up`, which closes every missed date first (``domain/business_days.py``).

A caller can watch or steer the steps by name through ``on_step``: it is handed each step's name
and a function that runs it, and returns the step's summary, so it can time a step, skip it, or
raise before or after one to simulate a crash (``bench/eod.py``, ``tests/collections``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Protocol, cast

from bnpl.domain.business_days import Close, Verdict, days_between, judge, open_date
from bnpl.domain.errors import InvalidState
from bnpl.eod import (
    accounts,
    ageing,
    charge_off,
    collections,
    funding,
    late_fees,
    lifecycle,
    refresh,
    settlements,
    snapshot,
)
from bnpl.eod.steps import Job, Step, Summary, Work, crash_point, mark, marked, run_marked
from bnpl.runtime import SYSTEM, FixedClock, Platform
from bnpl.services import business_days, queries

# The order is the semantics: each step reads what the ones before it wrote.
STEPS: tuple[Step, ...] = (
    lifecycle.STEP,  # expire authorizations, assume deliveries, settle merchants
    # late fees before ageing: ageing runs again on a resumed or repeated day and must see the
    # day's late fees then just as on the first run, or the amounts it ages would differ
    late_fees.STEP,
    settlements.STEP,  # before ageing: a settled account is not overdue
    ageing.STEP,
    accounts.STEP,
    charge_off.STEP,
    collections.STEP,
    funding.STEP,
    snapshot.STEP,  # the last transaction of the day: the day's figures, all in
    refresh.EXPOSURE,
    refresh.GRAPH,  # the longest step, once a date
)


# The summary's figures of what is outstanding, each said once: they differ on purpose.
DEFINITIONS: dict[str, str] = {
    "outstanding_principal": "principal customers owe at the close, on open obligations",
    "outstanding_fees": "instalment and late fees customers owe at the close, on open obligations",
    "outstanding_total": "outstanding_principal + outstanding_fees: what customers owe at the close",
    "platform_outstanding": (
        "the exposure checked against the platform's funding cap: principal owed plus what is "
        "authorized and may still be captured (holds); no fees"
    ),
    "steps.snapshot.outstanding": (
        "principal drawn on credit lines (the dashboard's book): the same sum as outstanding_principal"
    ),
    "steps.funding.receivables": (
        "principal and fee receivables in the ledger when funding cost accrued: outstanding_total"
    ),
}


class StepHook(Protocol):
    """Called for each step with its name and a function that runs it; returns its summary."""

    def __call__(self, name: str, run: Callable[[], Summary]) -> Summary: ...


def run_step(platform: Platform, step: Step) -> Summary:
    """One step, its marker and its crash points."""
    if step.transaction:
        work = cast(Work, step.run)
        if step.once:
            summary: Summary = platform.run(SYSTEM, lambda ctx: run_marked(ctx, step.name, work))
        else:
            summary = platform.run(SYSTEM, work)
    else:
        job = cast(Job, step.run)
        earlier = None
        if step.once:
            with platform.read(SYSTEM) as ctx:
                earlier = marked(ctx, step.name)
        if earlier is not None:
            summary = {**earlier, "already_done": True}
        else:
            summary = job(platform)
            if step.once:
                crash_point(step.name)
                platform.run(SYSTEM, lambda ctx: mark(ctx, step.name, summary))
    crash_point(f"after:{step.name}")
    return summary


def _admit(platform: Platform) -> Verdict:
    """What end of day for the platform's date is; refused when it would run a date before the
    last closed one, again after later actions, or skip dates without the operator's override."""
    today = platform.clock.today()
    with platform.read(SYSTEM) as ctx:
        last = business_days.last_closed(ctx.conn)
        verdict = judge(today, last)
        if verdict.kind is Close.CLOSED:
            # the day's jobs read "today": run for a past date, they would undo what later days did
            raise InvalidState(
                f"end of day cannot run for {today}: that business date is closed (the last closed "
                f"date is {last}, the open business date {verdict.open}); nothing was changed"
            )
        if verdict.kind is Close.RERUN:
            later = business_days.later_entries(ctx.conn, today)
            if later is not None:
                raise InvalidState(
                    f"end of day cannot run for {today} again: the book already has entries dated "
                    f"{later}; nothing was changed"
                )
        if verdict.kind is Close.SKIPS and not platform.settings.allow_forward_dates:
            missed = verdict.missed
            span = f"{missed[0]}" if len(missed) == 1 else f"{missed[0]} to {missed[-1]}"
            raise InvalidState(
                f"end of day for {today} would skip {span} (the open business date is {verdict.open}): "
                f"run `bnpl eod run --catch-up` (POST /admin/eod?catch_up=true) to close every date in order"
            )
    return verdict


def run_eod(platform: Platform, *, on_step: StepHook | None = None) -> Summary:
    """Run every step of today's end of day and close the date (see ``domain/business_days.py``
    for which date may run). Safe to resume after a crash; a rerun of the last closed date runs
    every step again and changes nothing."""
    today = platform.clock.today()
    if not isinstance(platform.clock, FixedClock):  # a run past midnight stays on its date
        platform = platform.on(today)
    verdict = _admit(platform)
    steps: dict[str, Summary] = {}
    for step in STEPS:

        def run(step: Step = step) -> Summary:
            return run_step(platform, step)

        steps[step.name] = on_step(step.name, run) if on_step else run()
    with platform.read(SYSTEM) as ctx:
        owed = queries.outstanding_now(ctx)
    summary = {
        "business_date": today.isoformat(),
        **steps["lifecycle"],
        "accounts": steps["accounts"],
        # what customers owe at the close, on open obligations (fen)
        "outstanding_principal": owed["principal"],
        "outstanding_fees": owed["fee"],
        "outstanding_total": owed["total"],
        "platform_outstanding": steps["exposure"]["platform_outstanding"],
        "merchants_flagged": steps["graph"]["flagged"],
        "definitions": DEFINITIONS,
        "steps": steps,
    }
    if verdict.kind is Close.RERUN:
        return {**summary, "rerun": True}
    platform.run(SYSTEM, lambda ctx: business_days.close(ctx, summary))
    return summary


def catch_up(platform: Platform, until: date, *, on_step: StepHook | None = None) -> list[Summary]:
    """Close every business date from the open one through ``until``, in order (on an empty
    calendar, ``until`` alone); nothing when ``until`` is already closed."""
    with platform.read(SYSTEM) as ctx:
        first = open_date(business_days.last_closed(ctx.conn)) or until
    return [run_eod(platform.on(day), on_step=on_step) for day in days_between(first, until)]
