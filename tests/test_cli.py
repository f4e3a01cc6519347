"""The `bnpl` command as a user runs it: a real process on a fresh SQLite file."""

from __future__ import annotations

import json
import subprocess
from typing import Any


def data(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout)


def test_a_purchase_from_the_command_line(bnpl: Any) -> None:
    merchant = data(bnpl("merchant", "create", "Tea House", "--mdr-bps", "80", "--category", "tea"))
    customer = data(bnpl("customer", "create", "Shopper", "--limit", "50000"))
    order = data(
        bnpl(
            "order",
            "authorize",
            "--merchant",
            str(merchant["id"]),
            "--customer",
            str(customer["id"]),
            "--item",
            "tea-1:tea:12000:2",
        )
    )
    assert order["status"] == "authorized" and order["amount"] == 24000
    assert data(bnpl("order", "capture", str(order["id"])))["status"] == "captured"
    bnpl("order", "deliver", str(order["id"]))
    bnpl("repay", str(customer["id"]), "4000")
    statement = data(bnpl("customer", "statement", str(customer["id"])))
    assert statement["total_owed"] == 20000
    eod = data(bnpl("--date", "2026-03-20", "eod", "run"))
    assert eod["merchants_settled"] == 1
    assert data(bnpl("ledger", "check"))["ok"] is True
    assert "intact" in bnpl("audit", "verify").stdout


def test_bad_input_is_one_line_and_a_nonzero_exit(bnpl: Any) -> None:
    for args, words in [
        (("order", "capture", "42"), "order 42 not found"),
        (("customer", "create", "X", "--limit", "-5"), "credit_limit"),
        (("order", "authorize", "--merchant", "1", "--customer", "1", "--item", "bad"), "sku:category"),
        (("--date", "2026-13-01", "ledger", "check"), "not a date"),
        (
            ("order", "authorize", "--merchant", "1", "--customer", "1", "--item", "[bold]x[/bold]"),
            "[bold]x[/bold]",
        ),
        (("repay", "1", "99999999999999999999999"), "1 to 1000000000000"),
        (("order", "show", "99999999999999999999999"), "too large"),
    ]:
        proc = bnpl(*args, ok=False)
        assert proc.returncode != 0
        assert words in proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_explaining_a_decision_and_working_the_review_queue(bnpl: Any) -> None:
    merchant = data(bnpl("merchant", "create", "Phone Shop", "--category", "phones"))
    customer = data(bnpl("customer", "create", "Shopper", "--limit", "1000000"))
    order = data(
        bnpl(
            "order",
            "authorize",
            "--merchant",
            str(merchant["id"]),
            "--customer",
            str(customer["id"]),
            "--item",
            "phone-x:phones:400000:1",
        )
    )
    assert order["status"] == "declined"
    text = bnpl("decision", "explain", str(order["decision"]["id"])).stdout
    assert "was declined" in text and "RESALE_HIGH_VALUE" in text and "rule resale-goods-high-value" in text
    assert data(bnpl("review", "list")) == []
    proc = bnpl("review", "approve", str(order["id"]), "--note", "x", ok=False)
    assert proc.returncode == 1 and "cannot approve an order that is declined" in proc.stderr


def test_a_refund_and_then_a_chargeback_from_the_command_line(bnpl: Any) -> None:
    customer = data(bnpl("customer", "create", "Shopper", "--limit", "50000"))
    cid = str(customer["id"])
    payment = data(bnpl("repay", cid, "5000"))  # nothing owed: all of it is credit balance
    assert payment["to_credit_balance"] == 5000
    refunded = data(bnpl("refund", cid, "3000"))
    assert (refunded["refunded"], refunded["credit_balance"]) == (3000, 2000)
    proc = bnpl("refund", cid, "9000", ok=False)
    assert proc.returncode != 0 and proc.stderr.strip() == "error: credit balance is 2000, cannot refund 9000"
    reversed_ = data(bnpl("reverse-payment", str(payment["id"]), "--reason", "card chargeback"))
    assert reversed_["chargeback_owed"] == 3000  # refunded already: owed again
    statement = data(bnpl("customer", "statement", cid))
    assert (statement["total_owed"], statement["chargeback_owed"]) == (3000, 3000)
    assert data(bnpl("ledger", "check"))["ok"] is True


def test_a_live_stream_queue_from_a_file(bnpl: Any, tmp_path: Any) -> None:
    merchant = data(bnpl("merchant", "create", "Live Tea", "--category", "tea"))
    customer = data(bnpl("customer", "create", "Fan", "--limit", "15000"))
    basket = [{"sku": "tea-1", "category": "tea", "unit_price": 10000, "quantity": 1}]
    queue = tmp_path / "queue.json"
    queue.write_text(
        json.dumps(
            {
                "orders": [
                    {"customer_id": customer["id"], "items": basket, "channel": "live_stream"},
                    {"customer_id": 999999, "items": basket},
                    {"customer_id": customer["id"], "items": basket},  # the limit is used: declined
                ]
            }
        )
    )
    answers = data(bnpl("order", "batch", str(queue), "--merchant", str(merchant["id"])))
    assert [a.get("status") or a["error"] for a in answers] == ["authorized", "not-found", "declined"]
    assert data(bnpl("ledger", "check"))["ok"] is True
    bnpl("order", "batch", str(tmp_path / "missing.json"), "--merchant", "1", ok=False)
