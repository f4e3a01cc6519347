"""Step ``collections``, in one transaction after the day's ageing: promises kept or broken, cases
opened, moved, closed and assigned, and the strategy's reminders and actions (every contact
through the contact policy). Promises and cases compare the book with what it should be; the
strategy's sends are marked once a date (marker ``strategy``, in the same transaction)."""

from __future__ import annotations

from bnpl.collections.cases import settle_promises, sync_cases
from bnpl.collections.dunning import run_strategy
from bnpl.eod.steps import Step, Summary, run_marked
from bnpl.runtime import Ctx


def run_collections(ctx: Ctx) -> Summary:
    return {
        **settle_promises(ctx),
        **sync_cases(ctx),
        "strategy": run_marked(ctx, "strategy", run_strategy),
    }


STEP = Step("collections", run_collections)
