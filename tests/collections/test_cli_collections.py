"""Collections from the command line, as an operator runs it: a real process on a fresh SQLite
file. End of day catches up the missed dates; the agent's queue fills; the compliance report
proves every contact; bad input is one line and a non-zero exit."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
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


def _midday_zone() -> str:
    """A time zone where it is now about midday, so a call placed now is inside the allowed hours
    whenever the test runs (the CLI's clock is the business date at the real time of day)."""
    offset = 12 - datetime.now(UTC).hour  # -11..12 hours ahead of UTC
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def test_a_contact_back_dated_with_date_is_refused_and_recorded(bnpl: Any, tmp_path: Path) -> None:
    merchant = data(bnpl("merchant", "create", "Tea House", "--category", "tea"))
    customer = data(bnpl("customer", "create", "Shopper", "--limit", "90000"))
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
    agent = data(bnpl("collections", "agent", "create", "Ann", "--role", "agent"))
    with sqlite3.connect(tmp_path / "cli.db") as db:  # the customer lives where it is midday now
        db.execute("UPDATE customers SET timezone = ? WHERE id = ?", (_midday_zone(), customer["id"]))
    due = date.fromisoformat(data(bnpl("order", "show", str(order["id"])))["schedule"][0]["due_date"])
    talked_on, day_before = (due + timedelta(days=5)).isoformat(), (due + timedelta(days=4)).isoformat()
    bnpl("--date", talked_on, "eod", "run")
    [case] = data(bnpl("--date", talked_on, "collections", "queue", "--agent", str(agent["id"])))
    contact = ("collections", "contact", str(case["id"]), "--agent", str(agent["id"]), "--template")
    talked = data(bnpl("--date", talked_on, *contact, "collect_call", "--outcome", "reached"))
    assert talked["allowed"], talked

    back = bnpl("--date", day_before, *contact, "collect_call", "--outcome", "reached")
    refused = data(back)
    assert (refused["allowed"], refused["rule"], refused["outcome"]) == (False, "back_dated", None)
    assert "back-dated" in refused["reason"] and "before the latest entry" in refused["reason"]
    assert refused["at"].startswith(day_before)
    shown = data(bnpl("--date", talked_on, "collections", "case", str(case["id"])))
    assert [(c["allowed"], c["rule"]) for c in shown["contacts"] if c["agent_id"]] == [
        (False, "back_dated"),
        (True, None),
    ]
    report = data(bnpl("compliance", "report", "--from", day_before, "--to", talked_on))
    assert report["proof"]["ok"] and report["blocked_by_rule"]["back_dated"]["count"] == 1
