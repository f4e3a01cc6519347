"""Step ``settlements``: discounted settlements whose money came in; the rest is forgiven. It runs
before ageing: a settled account is not overdue."""

from __future__ import annotations

from bnpl.collections.hardship import complete_settlements
from bnpl.eod.steps import Step

STEP = Step("settlements", complete_settlements)
