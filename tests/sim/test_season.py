"""A small season through the real platform: reproducible for a seed, its ledger holds every
invariant, and the report's figures are the ledger's figures (checked here with plain queries)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select

from bnpl.credit.registry import Model
from bnpl.runtime import ADMIN, Platform, Settings
from bnpl.services.boot import open_platform
from bnpl.services.checks import check_ledger
from bnpl.sim.engine import DB_NAME, SimConfig, champion_model, pilot_size
from bnpl.sim.policy import SimPolicy, load_policy
from bnpl.sim.season import run_one, simulate
from bnpl.store.tables import account_ageing, collection_cases, ledger_lines, obligations, orders

CONFIG = SimConfig(customers=600, days=50, seed=11)


@pytest.fixture(scope="module")
def model() -> Model:
    return champion_model(CONFIG.seed, True, pilot_size(CONFIG.customers))


@pytest.fixture(scope="module")
def season(model: Model, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("season")
    return out, run_one(CONFIG, load_policy("baseline"), out, model)


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("compare")
    return out, simulate(CONFIG, [load_policy("baseline"), load_policy("light-desk")], out)


def _platform(out: Path) -> Platform:
    return open_platform(Settings(database_url=f"sqlite:///{out / DB_NAME}"))


def _without_timing(metrics: dict[str, Any]) -> dict[str, Any]:
    return {**metrics, "run": {k: v for k, v in metrics["run"].items() if k != "seconds"}}


def test_the_season_writes_its_report_and_figures(season: tuple[Path, dict[str, Any]]) -> None:
    out, metrics = season
    for name in ("report.html", "metrics.json", "intents.csv.gz", "loans.csv.gz", DB_NAME):
        assert (out / name).is_file(), name
    written = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    for key in (
        "model_auc",
        "oracle_auc",
        "approval_rate",
        "conversion_uplift",
        "loss_rate",
        "ledger_balanced",
    ):
        assert key in written
    assert written == json.loads(json.dumps(metrics))
    assert metrics["checkouts"] > 100 and 0.3 < metrics["approval_rate"] < 1
    assert metrics["run"]["refused_calls"] == {} or max(metrics["run"]["refused_calls"].values()) < 50


def test_the_same_seed_gives_the_same_season(
    season: tuple[Path, dict[str, Any]], compared: tuple[Path, dict[str, Any]]
) -> None:
    # the comparison ran the baseline again on the same world and seed, in its own database
    _, first = season
    _, both = compared
    assert _without_timing(both["baseline"]) == _without_timing(first)
    a, b = (pd.read_csv(p / "loans.csv.gz") for p in (season[0], compared[0] / "baseline"))
    pd.testing.assert_frame_equal(a, b)


def test_the_ledger_holds_every_invariant(season: tuple[Path, dict[str, Any]]) -> None:
    out, metrics = season
    platform = _platform(out)
    with platform.read(ADMIN) as ctx:
        assert check_ledger(ctx)["problems"] == []
    assert metrics["ledger_balanced"] is True
    platform.dispose()


def test_the_reports_figures_are_the_ledgers(season: tuple[Path, dict[str, Any]]) -> None:
    out, m = season
    platform = _platform(out)
    ll = ledger_lines.c

    def balance(ctx: Any, *accounts: str) -> int:
        return int(
            ctx.conn.execute(
                select(func.coalesce(func.sum(ll.amount), 0)).where(ll.account.in_(accounts))
            ).scalar()
        )

    with platform.read(ADMIN) as ctx:
        totals = m["economics"]["totals"]
        assert totals["mdr_income"] == -balance(ctx, "mdr_income") > 0
        assert totals["fee_income"] == -balance(ctx, "instalment_fee_income")
        assert totals["late_fee_income"] == -balance(ctx, "late_fee_income")
        assert totals["funding_cost"] == balance(ctx, "funding_cost_expense") > 0
        receivable = balance(ctx, "customer_principal_receivable", "customer_fee_receivable")
        o = obligations.c
        owed = ctx.conn.execute(
            select(func.sum(o.principal + o.fee - o.principal_paid - o.fee_paid)).where(o.status == "open")
        ).scalar()
        assert m["over_time"]["outstanding"][-1] == receivable == owed
        assert m["over_time"]["capital_employed"][-1] == -balance(ctx, "cash")
        statuses = [s for (s,) in ctx.conn.execute(select(orders.c.status))]
        assert m["checkouts"] == len(statuses)
        assert m["approved"] == sum(s not in ("declined", "review") for s in statuses)
        returned = ctx.conn.execute(select(func.sum(orders.c.returned_amount))).scalar()
        assert m["returns"]["amount_returned"] == returned
        last = ctx.conn.execute(select(func.max(account_ageing.c.business_date))).scalar()
        overdue = ctx.conn.execute(
            select(func.sum(account_ageing.c.overdue_amount)).where(account_ageing.c.business_date == last)
        ).scalar()
        assert sum(series[-1] for series in m["delinquency"]["overdue_by_bucket"].values()) == overdue
        assert (
            m["collections"]["cases"]
            == ctx.conn.execute(select(func.count()).select_from(collection_cases)).scalar()
        )
    platform.dispose()


def test_conversion_and_fraud_figures_follow_the_truth(season: tuple[Path, dict[str, Any]]) -> None:
    out, m = season
    intents = pd.read_csv(out / "intents.csv.gz")
    honest = intents[intents["fraud"] == "none"]  # a fraudster's purchase is no conversion
    offer = honest[~honest["control"]]
    assert m["conversion"]["offer"]["intents"] == len(offer)
    assert m["conversion"]["offer"]["conversion"] == round(offer["purchased"].mean(), 4)
    tried = intents[intents["order_id"].notna() & (intents["fraud"] != "none")]
    assert m["fraud"]["caught"] + m["fraud"]["missed"] == len(tried)
    # the control group never sees the offer, so it never reaches the platform
    assert intents[intents["control"]]["order_id"].isna().all()


def test_the_first_purchase_figures_are_what_they_say(season: tuple[Path, dict[str, Any]]) -> None:
    _, m = season
    f, totals = m["fraud"], m["economics"]["totals"]
    assert m["good_declined_rate"] == round(f["good_declined"] / (f["good_declined"] + f["good_approved"]), 4)
    assert m["expected_loss_ratio"] == round(totals["expected_loss_model"] / totals["expected_loss_true"], 4)
    for channel, row in m["economics"]["by_channel"].items():
        expected = (
            round(row["expected_loss_model"] / row["expected_loss_true"], 4)
            if row["expected_loss_true"]
            else None
        )
        assert m["expected_loss_ratio_by_channel"][channel] == expected
    assert 0 < m["auc"]["first_orders"] <= m["auc"]["orders"]
    assert isinstance(m["retraining"], list)
    # the calibration chart's bands add up to what was financed with a model's PD
    bands = m["calibration_by_grade"]
    assert set(bands) <= {"A", "B", "C", "D", "E", "—"} and bands
    graded = m["economics"]["by_grade"]
    assert sum(b["financed"] for b in bands.values()) == sum(
        r["financed"] for r in graded.values() if r["financed"] > 0
    )
    for grade, band in bands.items():
        assert band["model_pd"] == round(graded[grade]["expected_loss_model"] / graded[grade]["financed"], 4)


def test_the_report_is_one_self_contained_page(season: tuple[Path, dict[str, Any]]) -> None:
    html = (season[0] / "report.html").read_text(encoding="utf-8")
    for section in (
        "decisions",
        "conversion",
        "gmv",
        "returns",
        "capital",
        "buckets",
        "vintages",
        "auc",
        "calibration",
        "fraud",
        "cure",
        "economics",
    ):
        assert f'id="{section}"' in html
    assert html.count("<svg") >= 12
    assert "<script" not in html and 'src="http' not in html and "<link" not in html


def test_a_policy_that_cannot_run_stops_the_side_by_side_with_its_reason(tmp_path: Path) -> None:
    broken = SimPolicy(name="broken", rules=str(tmp_path / "missing.yaml"), marketplace_feed=False)
    with pytest.raises(ValueError, match=r"missing\.yaml"):
        simulate(SimConfig(customers=300, days=120, seed=3), [load_policy("no-feed"), broken], tmp_path)
    # the other season was stopped, not left to run to its end
    assert not (tmp_path / "no-feed" / "metrics.json").exists() and not (tmp_path / "metrics.json").exists()


def test_a_season_whose_process_dies_stops_the_other_at_once(tmp_path: Path) -> None:
    days: list[int] = []

    def kill_one_child(day: int) -> None:
        days.append(day)
        if len(days) == 1:
            os.kill(multiprocessing.active_children()[0].pid or 0, signal.SIGKILL)

    policies = [load_policy("no-feed"), SimPolicy(name="other", marketplace_feed=False)]
    with pytest.raises(RuntimeError, match="stopped without a result"):
        simulate(SimConfig(customers=300, days=120, seed=3), policies, tmp_path, kill_one_child)
    assert not any((tmp_path / p.name / "metrics.json").exists() for p in policies)
    assert multiprocessing.active_children() == []


def test_two_policies_side_by_side(compared: tuple[Path, dict[str, Any]]) -> None:
    out, both = compared
    assert both["compare"] == ["baseline", "light-desk"]
    assert (out / "baseline" / "report.html").is_file() and (out / "light-desk" / "metrics.json").is_file()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "baseline" in html and "light-desk" in html and html.count("<svg") >= 24
    # the same shoppers wanted the same things: only what the desk did differs
    a, b = both["baseline"], both["light-desk"]
    assert a["conversion"]["control"] == b["conversion"]["control"]
    assert both["difference"]["approval_rate"] == round(b["approval_rate"] - a["approval_rate"], 4)
    calls = {
        name: both[name]["collections"]["cure_rate_by_action"].get("call", {}).get("contacts", 0)
        for name in both["compare"]
    }
    assert calls["light-desk"] <= calls["baseline"]


def test_the_report_reads_well_in_a_real_browser(season: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    from tests.browser import chromium_page

    out, m = season
    with chromium_page() as page:
        page.goto((out / "report.html").resolve().as_uri())
        assert page.title() == "bnpl season report"
        headline = page.locator("#headline table")
        assert headline.is_visible()
        assert f"{m['approval_rate'] * 100:.1f}%" in headline.inner_text()
        # every chart is drawn at a readable size, and none spills past the page
        boxes = [
            page.locator(f"#{s} svg").first.bounding_box()
            for s in ("decisions", "capital", "auc", "economics")
        ]
        assert all(b is not None and b["width"] > 300 and b["height"] > 150 for b in boxes)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
