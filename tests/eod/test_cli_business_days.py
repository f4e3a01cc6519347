"""The closed business dates from the command line, as the outside review ran them: a real
process on a fresh SQLite file per test (the ``bnpl`` fixture; its default date is 2026-03-02).
Refusals are one line on stderr and exit 1."""

from __future__ import annotations

import json
from typing import Any


def data(proc: Any) -> Any:
    return json.loads(proc.stdout)


def refused(proc: Any, *words: str) -> None:
    assert proc.returncode == 1, proc.stdout
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


def test_catch_up_after_a_missed_night(bnpl: Any) -> None:
    customer = data(bnpl("customer", "create", "Shopper", "--limit", "90000"))
    bnpl("eod", "run")  # 2026-03-02 closes; nobody runs 2026-03-03
    refused(
        bnpl("--date", "2026-03-04", "repay", str(customer["id"]), "100", ok=False),
        "2026-03-04 is after the open business date 2026-03-03",
        "--catch-up",
    )
    bnpl("--allow-forward-dates", "--date", "2026-03-04", "repay", str(customer["id"]), "100")
    refused(bnpl("--date", "2026-03-04", "eod", "run", ok=False), "would skip 2026-03-03", "--catch-up")
    days = data(bnpl("--date", "2026-03-04", "eod", "run", "--catch-up"))
    assert [d["business_date"] for d in days] == ["2026-03-03", "2026-03-04"]
    assert data(bnpl("--date", "2026-03-04", "eod", "run", "--catch-up")) == []  # nothing left


def test_a_forward_dated_action_does_not_stop_end_of_day(bnpl: Any) -> None:
    bnpl("--date", "2027-12-31", "customer", "create", "X", "--limit", "100")  # no date closed yet
    assert data(bnpl("--date", "2026-12-16", "eod", "run"))["business_date"] == "2026-12-16"
    refused(
        bnpl("--date", "2027-12-31", "customer", "create", "Y", "--limit", "100", ok=False),
        "after the open business date 2026-12-17",
    )
    assert data(bnpl("--date", "2026-12-17", "eod", "run"))["business_date"] == "2026-12-17"


def test_a_closed_date_cannot_run_again(bnpl: Any) -> None:
    bnpl("eod", "run")
    bnpl("--date", "2026-03-04", "eod", "run", "--catch-up")
    refused(
        bnpl("--date", "2026-03-02", "eod", "run", ok=False), "2026-03-02", "closed", "nothing was changed"
    )
    assert data(bnpl("--date", "2026-03-04", "eod", "run"))["rerun"] is True
