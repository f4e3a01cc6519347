"""Collections from the command line, as an operator runs it: a real process on a fresh SQLite
file. End of day catches up the missed dates; the agent's queue fills; the compliance report
proves every contact; bad input is one line and a non-zero exit."""

from __future__ import annotations

import json
from typing import Any


def data(proc: Any) -> Any:
    return json.loads(proc.stdout)


def test_end_of_day_catch_up_fills_the_queue_and_the_report_holds(bnpl: Any) -> None:
    merchant = data(bnpl("merchant", "create", "Tea House", "--category", "tea"))
    customer = data(
        bnpl(
            "customer",
            "create",
            "Shopper",
            "--limit",
            "90000",
            "--phone",
            "13800000000",
            "--address",
            "8 Test Rd",
        )
    )
    order = data(
        bnpl(
            "order",
            "authorize",
            "--merchant",
            str(merchant["id"]),
            "--customer",
            str(customer["id"]),
            "--item",
            "tea-1:tea:60000:1",
        )
    )
    bnpl("order", "capture", str(order["id"]))
    bnpl("order", "deliver", str(order["id"]))
    due = data(bnpl("order", "show", str(order["id"])))["schedule"][0]["due_date"]
    agent = data(bnpl("collections", "agent", "create", "Ann", "--role", "agent", "--skill", "M1"))
    assert agent["api_key"] and agent["skills"] == ["M1"]

    bnpl("eod", "run")  # 2026-03-02: the first end of day
    days = data(bnpl("--date", "2026-03-25", "eod", "run", "--catch-up"))
    assert days[0]["business_date"] == "2026-03-03" and days[-1]["business_date"] == "2026-03-25"
    assert len(days) == 23 and due < "2026-03-25"
    queue = data(bnpl("--date", "2026-03-25", "collections", "queue", "--agent", str(agent["id"])))
    assert [c["customer_id"] for c in queue] == [customer["id"]]
    case = data(bnpl("--date", "2026-03-25", "collections", "case", str(queue[0]["id"])))
    assert case["customer"]["phone"] == "138*****000" and case["contacts"]  # reminders went out, masked data
    report = bnpl(
        "--date", "2026-03-25", "compliance", "report", "--from", "2026-03-01", "--to", "2026-03-25"
    )
    assert data(report)["proof"]["ok"] and data(report)["contacts_made"] == len(
        [c for c in case["contacts"] if c["allowed"]]
    )
    again = data(bnpl("--date", "2026-03-25", "eod", "run"))
    assert again["steps"]["late_fees"]["already_done"] is True
    assert data(bnpl("ledger", "check"))["ok"] is True


def test_bad_collections_input_is_one_line(bnpl: Any) -> None:
    for args, words in [
        (("collections", "agent", "create", "X", "--role", "boss"), "role must be one of"),
        (("collections", "agent", "create", "X", "--skill", "M9"), "unknown skill"),
        (("compliance", "report", "--from", "2026-13-01", "--to", "2026-03-01"), "not a date"),
        (("compliance", "report", "--from", "2026-03-02", "--to", "2026-03-01"), "ends before it starts"),
        (("collections", "case", "7"), "case 7 not found"),
        (("collections", "queue", "--limit", "0"), "--limit must be 1-1000"),
        (("eod", "schedule", "--at", "25:99"), "not a time"),
        (
            ("collections", "visit", "outcome", "1", "--agent", "1", "--outcome", "met", "--checklist", "{"),
            "not JSON",
        ),
    ]:
        proc = bnpl(*args, ok=False)
        assert proc.returncode != 0, args
        assert words in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
