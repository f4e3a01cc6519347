"""Steps ``exposure`` and ``graph``, after the day's book is closed: the checkout's exposure
snapshots, and the merchants' cash-out graph signals. The graph is the longest step of the day and
reads only the book as of its run, so it runs once a date (``bnpl risk graph refresh`` recomputes
it at any time). Collections read neither."""

from __future__ import annotations

from bnpl.eod.steps import Step, Summary
from bnpl.risk import graph
from bnpl.runtime import Platform
from bnpl.services import exposure


def refresh_exposure(platform: Platform) -> Summary:
    book = exposure.refresh(platform)
    return {"merchants": book["merchants"], "platform_outstanding": book["platform_outstanding"]}


def refresh_graph(platform: Platform) -> Summary:
    summary = graph.refresh(platform)
    return {"flagged": summary["flagged"], "rings": summary.get("rings", 0)}


EXPOSURE = Step("exposure", refresh_exposure, transaction=False)
GRAPH = Step("graph", refresh_graph, once=True, transaction=False)
