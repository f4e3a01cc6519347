"""End of day for one business date: one ordered list of named steps (:data:`STEPS`), each in a
small module of this package, run by :func:`run_eod`.

Every step either changes nothing when run twice (lifecycle, settlements, ageing, accounts,
charge-off, cases, exposure: they compare the book with what it should be), or is a ``once`` step,
marked done for the date in ``eod_steps`` (in the same transaction as its work when it has one)
and skipped on a rerun. So a second run of the same date changes nothing, and a run killed
anywhere starts again where it died and ends with the same ledger as one that was never
interrupted.

A caller can watch or steer the steps by name through ``on_step``: it is handed each step's name
and a function that runs it, and returns the step's summary, so it can time a step, skip it, or
raise before or after one to simulate a crash (``bench/eod.py``, ``tests/collections``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Protocol, cast

from sqlalchemy import func, select

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
from bnpl.runtime import SYSTEM, Platform
from bnpl.store.frames import as_date
from bnpl.store.tables import audit_log, eod_steps

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


def _check_date(platform: Platform) -> date:
    with platform.read(SYSTEM) as ctx:
        latest = ctx.conn.execute(select(func.max(audit_log.c.business_date))).scalar()
        if latest is not None and as_date(latest) > ctx.today:
            # the day's jobs read "today": run for a past date, they would undo what later days did
            raise InvalidState(
                f"the ledger already has entries dated {latest}; end of day cannot run for {ctx.today}"
            )
        return ctx.today


def run_eod(platform: Platform, *, on_step: StepHook | None = None) -> Summary:
    """Run every step of today's end of day; safe to run again, and to resume after a crash."""
    today = _check_date(platform)
    steps: dict[str, Summary] = {}
    for step in STEPS:

        def run(step: Step = step) -> Summary:
            return run_step(platform, step)

        steps[step.name] = on_step(step.name, run) if on_step else run()
    lifecycle_summary = steps["lifecycle"]
    return {
        "business_date": today.isoformat(),
        **lifecycle_summary,
        "accounts": steps["accounts"],
        "platform_outstanding": steps["exposure"]["platform_outstanding"],
        "merchants_flagged": steps["graph"]["flagged"],
        "steps": steps,
    }


def catch_up(platform: Platform, until: date, *, on_step: StepHook | None = None) -> list[Summary]:
    """Run every business date from the day after the last end of day through ``until``."""
    with platform.read(SYSTEM) as ctx:
        last = ctx.conn.execute(select(func.max(eod_steps.c.business_date))).scalar()
    day = as_date(last) + timedelta(days=1) if last is not None else until
    results = []
    while day <= until:
        results.append(run_eod(platform.on(day), on_step=on_step))
        day += timedelta(days=1)
    return results
