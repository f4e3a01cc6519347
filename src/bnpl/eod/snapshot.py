"""Step ``snapshot``: the portfolio at the close of the day (``services/portfolio.py``), once a
date. The last step in a transaction of its own: the day's figures, all in."""

from __future__ import annotations

from bnpl.eod.steps import Step
from bnpl.services.portfolio import snapshot

STEP = Step("snapshot", snapshot, once=True)
