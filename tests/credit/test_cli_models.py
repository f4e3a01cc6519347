"""`bnpl model …` as an analyst runs it: real processes on a fresh SQLite file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bnpl.credit.evaluate import cross_validate, fit_baseline
from bnpl.credit.features import FEATURE_NAMES
from bnpl.credit.selection import recommend
from bnpl.credit.synthetic import synthetic
from tests.test_cli import data


def applicants(path: Path) -> None:
    """A small applicant table: a numeric and a categorical column, the outcome as text."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    table = pd.DataFrame(
        {
            "income": x + rng.normal(scale=0.5, size=400),
            "region": rng.choice(["north", "south"], size=400),
            "status": np.where(rng.random(400) < 1 / (1 + np.exp(2 + 1.5 * x)), "default", "paid"),
        }
    )
    table.to_csv(path, index=False)


def test_evaluate_prints_one_json_object_last(bnpl: Any, tmp_path: Path) -> None:
    applicants(tmp_path / "applicants.csv")
    proc = bnpl(
        "model",
        "evaluate",
        "--csv",
        "applicants.csv",
        "--target",
        "status",
        "--bad",
        "default",
        "--folds",
        "3",
        "--repeats",
        "1",
    )
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(last) == {"champion", "challenger", "baseline", "recommended"}
    pick = last.pop("recommended")
    for m in last.values():
        assert 0.6 < m["auc"] <= 1 and 0 < m["ks"] <= 1 and 0 < m["brier"] < 0.25
        assert len(m["auc_folds"]) == 3
    # the rule's pick among champion and challenger, with its figures and the reason in words
    assert set(pick) == {"name", "auc", "ks", "brier", "reason"}
    assert pick == recommend(last).as_json() and pick["name"] in ("champion", "challenger")
    assert {k: pick[k] for k in ("auc", "ks", "brier")} == {
        k: last[pick["name"]][k] for k in ("auc", "ks", "brier")
    }
    assert f"recommended: {pick['name']}" in proc.stdout


def test_bad_input_is_one_line_and_a_non_zero_exit(bnpl: Any, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "one.csv").write_text("a,t\n" + "".join(f"{i},x\n" for i in range(60)))
    cases = [
        (("model", "evaluate", "--dataset", "nope"), "unknown dataset"),
        (("model", "evaluate"), "either --dataset"),
        (("model", "evaluate", "--csv", "missing.csv", "--target", "t", "--bad", "1"), "no such file"),
        (("model", "evaluate", "--csv", "empty.csv", "--target", "t", "--bad", "1"), "not a readable CSV"),
        (("model", "evaluate", "--csv", "one.csv", "--target", "t", "--bad", "y"), "no row has t"),
        (("model", "evaluate", "--csv", "one.csv", "--target", "nope", "--bad", "y"), "no column"),
        (("model", "train", "--dataset", "platform"), "no order has matured"),
        (("model", "train", "--dataset", "german", "--rows", "500"), "only applies to --dataset synthetic"),
        (("model", "train", "--dataset", "synthetic", "--rows", "5"), "between 100 and"),
        (("model", "evaluate", "--dataset", "german", "--target", "x"), "go with --csv"),
        (("model", "evaluate", "--dataset", "german", "--folds", "1000"), "--folds must be"),
        (("model", "evaluate", "--dataset", "german", "--repeats", "0"), "--folds must be"),
        (("model", "evaluate", "--csv", ".", "--target", "t", "--bad", "1"), "is a directory"),
        (("model", "promote", "scorecard-x-1"), "no model"),
        (("model", "promote", "--best"), "no model to choose from"),
        (("model", "promote", "--best", "--dataset", "synthetic"), "trained on 'synthetic' to choose"),
        (("model", "promote", "--best", "scorecard-x-1"), "--best chooses the model"),
        (("model", "promote"), "give a VERSION"),
        (("model", "report", "scorecard-x-1"), "no model"),
        (("model", "report", "scorecard-x-1", "--out", "nodir/r.html"), "cannot write"),
        (("model", "report", "scorecard-x-1", "--out", "."), "is a directory"),
    ]
    for args, message in cases:
        proc = bnpl(*args, ok=False)
        assert proc.returncode != 0, args
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr, (args, proc.stderr)


def test_train_promote_rescore_and_a_scored_checkout(bnpl: Any, tmp_path: Path) -> None:
    applicants(tmp_path / "applicants.csv")
    csv = ("--csv", "applicants.csv", "--target", "status", "--bad", "default")
    foreign = data(bnpl("model", "train", *csv, "--kind", "scorecard"))[0]
    assert foreign["version"] == "scorecard-applicants-1" and foreign["platform_features"] is False
    refused = bnpl("model", "promote", foreign["version"], ok=False)
    assert refused.returncode == 1 and "platform's credit features" in refused.stderr

    trained = data(bnpl("model", "train", "--dataset", "synthetic", "--rows", "3000", "--kind", "lightgbm"))[
        0
    ]
    assert trained["rows"] == 3000 and trained["source"] == {"dataset": "synthetic", "rows": 3000}
    assert len(trained["metrics"]["auc_folds"]) == 5 and trained["metrics"]["cv_seed"] == 42
    # --best: the rule's pick among the models that can score checkouts (not the CSV's); the rule
    # itself between several models is tested in test_selection.py
    best = bnpl("model", "promote", "--best")
    chosen = data(best)
    assert chosen["promoted"] == trained["version"] and chosen["changed"] is True
    assert chosen["compared"] == [trained["version"]] and "the only candidate" in chosen["reason"]
    assert f"promoted {trained['version']} as champion" in best.stderr
    roles = {m["version"]: m["role"] for m in data(bnpl("model", "list"))}
    assert roles == {foreign["version"]: "candidate", trained["version"]: "champion"}

    merchant = data(bnpl("merchant", "create", "Tea House", "--category", "tea"))
    customer = data(bnpl("customer", "create", "Shopper", "--limit", "200000"))
    rescored = data(bnpl("model", "rescore"))
    assert rescored["customers"] == 1 and rescored["model"] == trained["version"]
    order = data(
        bnpl(
            "order",
            "authorize",
            "--merchant",
            str(merchant["id"]),
            "--customer",
            str(customer["id"]),
            "--item",
            "tea-1:tea:80000:1",
        )
    )
    assert order["decision"]["outcome"] == "approve_lower" and order["decision"]["approved_amount"] == 50000
    explained = bnpl("decision", "explain", str(order["decision"]["id"])).stdout
    assert trained["version"] in explained and "starter policy" in explained

    (tmp_path / "empty.csv").write_text("orders_30d,gmv_30d\n")
    (tmp_path / "text.csv").write_text(
        ",".join(FEATURE_NAMES) + "\n" + ",".join(["x"] * len(FEATURE_NAMES)) + "\n"
    )
    for recent, message in (("empty.csv", "no rows"), ("text.csv", "must hold numbers")):
        proc = bnpl("model", "report", trained["version"], "--out", "r.html", "--recent", recent, ok=False)
        assert proc.returncode == 1 and message in proc.stderr and not (tmp_path / "r.html").exists()
    report = bnpl("model", "report", trained["version"], "--out", "report.html")
    assert "report written" in report.stdout and (tmp_path / "report.html").stat().st_size > 10_000


def test_the_oracle_on_generated_data() -> None:
    ds = synthetic(rows=3000, seed=5)
    result = cross_validate(ds, {"baseline": fit_baseline}, n_splits=3, n_repeats=1)
    oracle, baseline = result["oracle"], result["baseline"]
    assert 0.5 < baseline["auc"] < oracle["auc"]  # no model beats the truth it was drawn from
    assert baseline["auc_vs_oracle"] == round(baseline["auc"] / oracle["auc"], 4)
