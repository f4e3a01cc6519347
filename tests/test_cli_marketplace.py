"""`bnpl marketplace`: consent from the command line, and importing a feed file (JSON Lines or CSV)
where one bad line refuses the file, names the line, and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HEADER = "type,event_id,customer_id,occurred_at,category,channel,amount,payment_kind,outcome\n"


def order(event_id: str, amount: Any = 59_00) -> dict[str, Any]:
    return {
        "type": "order",
        "event_id": event_id,
        "customer_id": 1,
        "occurred_at": "2026-02-20T10:00:00+08:00",
        "category": "tea",
        "channel": "live_stream",
        "amount": amount,
        "payment_kind": "wallet",
        "outcome": "completed",
    }


def test_consent_then_import_jsonl_and_csv(bnpl: Any, tmp_path: Path) -> None:
    bnpl("customer", "create", "Shopper", "--limit", "100000")
    early = tmp_path / "early.jsonl"
    early.write_text(json.dumps(order("e0")) + "\n")
    refused = bnpl("marketplace", "import", str(early), ok=False)
    assert refused.returncode != 0 and "line 1: no consent" in refused.stderr
    assert "Traceback" not in refused.stderr
    bnpl("marketplace", "consent", "grant", "1", "--notice-version", "2026.1", "--scope", "order,profile")

    bad = tmp_path / "feed.jsonl"
    bad.write_text(
        "\n".join(json.dumps(r) for r in (order("e1"), order("e2"), order("e3", amount=-5))) + "\n"
    )
    out = bnpl("marketplace", "import", str(bad), ok=False)
    assert out.returncode != 0 and "line 3: amount" in out.stderr and "nothing written" in out.stderr
    assert "Traceback" not in out.stderr
    garbled = tmp_path / "garbled.jsonl"
    garbled.write_text(json.dumps(order("e1")) + "\n{oops\n")
    out = bnpl("marketplace", "import", str(garbled), ok=False)
    assert out.returncode != 0 and "line 2" in out.stderr

    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps(order(f"e{i}")) for i in range(1, 4)) + "\n")
    # nothing of the refused files was kept: all three are new
    assert '"accepted": 3' in bnpl("marketplace", "import", str(good)).stdout

    rows = [",".join(str(v) for v in order(f"c{i}").values()) for i in range(3)]
    rows[1] = rows[1].replace("live_stream", "radio")
    bad_csv = tmp_path / "feed.csv"
    bad_csv.write_text(HEADER + "\n".join(rows) + "\n")
    out = bnpl("marketplace", "import", str(bad_csv), ok=False)
    assert out.returncode != 0 and "line 3: channel" in out.stderr  # the header is line 1
    good_csv = tmp_path / "good.csv"
    good_csv.write_text(HEADER + "\n".join(r.replace("radio", "mall") for r in rows) + "\n")
    done = json.loads(bnpl("marketplace", "import", str(good_csv)).stdout)
    assert done == {"accepted": 3, "duplicate": 0, "by_type": {"order": 3}, "customers": 1}
    again = json.loads(bnpl("marketplace", "import", str(good_csv)).stdout)
    assert again["duplicate"] == 3 and again["accepted"] == 0

    features = json.loads(bnpl("--date", "2026-03-03", "marketplace", "features", "1").stdout)
    # five of the six orders came from live streams (one CSV row was fixed to "mall")
    assert features["feed_status"] == "ok" and features["mkt_live_share_12m"] == 5 / 6
    bnpl("marketplace", "consent", "withdraw", "1")
    shown = json.loads(bnpl("marketplace", "consent", "show", "1").stdout)
    assert shown["status"] == "withdrawn" and len(shown["events"]) == 2
    assert bnpl("marketplace", "import", str(tmp_path / "missing.csv"), ok=False).returncode != 0
