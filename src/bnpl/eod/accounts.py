"""Step ``accounts``: freeze lines on overdue, unfreeze on cure, block on repeated overdue, from
today's ageing (``services/accounts.py`` holds the policy)."""

from __future__ import annotations

from bnpl.eod.ageing import ageing_today
from bnpl.eod.steps import Step, Summary
from bnpl.runtime import Ctx
from bnpl.services.accounts import apply_account_policy


def account_states(ctx: Ctx) -> Summary:
    return apply_account_policy(ctx, ageing_today(ctx))


STEP = Step("accounts", account_states)
