"""`POST /admin/eod` names what is outstanding: principal, fees and their total on open obligations,
beside `platform_outstanding` (principal plus holds, the exposure under the funding cap), each
defined in the summary, and each equal to the figure a step reports under another name."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from bnpl.app import create_app
from tests.demo.conftest import DemoBook


def test_end_of_day_names_its_outstanding_figures(demo_book: DemoBook, tmp_path: Path) -> None:
    platform = demo_book.platform(database=demo_book.copy(tmp_path))
    with TestClient(create_app(platform), base_url="http://127.0.0.1") as client:
        answer = client.post(
            "/admin/eod",
            headers={"Authorization": f"Bearer {demo_book.keys['admin']}", "Idempotency-Key": "eod-1"},
        )
    platform.dispose()
    assert answer.status_code == 200, answer.text
    s = answer.json()
    principal, fees, total = s["outstanding_principal"], s["outstanding_fees"], s["outstanding_total"]
    assert principal > 0 and fees > 0 and total == principal + fees
    assert s["steps"]["snapshot"]["outstanding"] == principal
    assert s["steps"]["funding"]["receivables"] == total
    holds = s["steps"]["snapshot"]["holds"]
    assert holds > 0 and s["platform_outstanding"] == principal + holds  # no fees in the exposure
    for key in ("outstanding_principal", "outstanding_fees", "outstanding_total", "platform_outstanding"):
        assert s["definitions"][key], key
