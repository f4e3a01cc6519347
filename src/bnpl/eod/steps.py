"""What a step of end of day is, and the two things every step shares: the ``eod_steps`` markers
that make a ``once`` step run at most once per business date, and the crash points the
crash-resume test kills the process at.

A step either runs in one transaction (``transaction=True``: ``run`` takes a :class:`Ctx`, and a
``once`` step's marker commits with its work), or drives its own transactions (``run`` takes the
:class:`Platform`; a ``once`` step's marker commits after it)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from bnpl.runtime import Ctx, Platform
from bnpl.store.tables import eod_steps

Summary = dict[str, Any]
Work = Callable[[Ctx], Summary]  # a step in one transaction
Job = Callable[[Platform], Summary]  # a step that runs its own transactions

CRASH_AT = "BNPL_EOD_CRASH_AT"  # fault injection for the crash-resume test: kill -9 inside a step


@dataclass(frozen=True)
class Step:
    """One named step of end of day.

    ``once``: the step is marked done for the date in ``eod_steps`` and skipped (its first summary
    returned, with ``already_done``) on a rerun or a resume; the other steps compare the book with
    what it should be, so running them twice changes nothing."""

    name: str
    run: Work | Job
    once: bool = False
    transaction: bool = True  # False: ``run`` takes the Platform and runs its own transactions


def crash_point(point: str) -> None:
    """Kill this process (SIGKILL: no clean-up, no commit) at ``point`` when asked to."""
    if os.environ.get(CRASH_AT) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def marked(ctx: Ctx, step: str) -> Summary | None:
    """The summary ``step`` recorded for today, or None if it has not run today."""
    row = ctx.conn.execute(
        select(eod_steps.c.summary).where(eod_steps.c.business_date == ctx.today, eod_steps.c.step == step)
    ).first()
    return None if row is None else dict(row.summary)


def mark(ctx: Ctx, step: str, summary: Summary) -> None:
    ctx.conn.execute(
        insert(eod_steps).values(business_date=ctx.today, step=step, finished_at=ctx.now, summary=summary)
    )


def run_marked(ctx: Ctx, step: str, work: Work) -> Summary:
    """``work`` at most once per business date, its marker in the same transaction."""
    earlier = marked(ctx, step)
    if earlier is not None:
        return {**earlier, "already_done": True}
    summary = work(ctx)
    crash_point(step)
    mark(ctx, step, summary)
    return summary
