"""One season, or two policies on the same world side by side: run, measure, write the report.

Output in ``out``: ``report.html`` (self-contained), ``metrics.json`` (the same figures), the
simulator's truth (``intents.csv.gz``, ``loans.csv.gz``) and the season's database
(``bnpl-sim.db``, the platform's own records, for any query the report does not answer). With
two policies each run has its own folder and ``out`` holds the side-by-side report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from bnpl.runtime import ADMIN
from bnpl.sim.engine import Simulation, champion_model, pilot_size
from bnpl.sim.metrics import measure
from bnpl.sim.policy import SimPolicy
from bnpl.sim.report import render
from bnpl.sim.state import SimConfig

HEADLINE = ("approval_rate", "conversion_uplift", "loss_rate", "model_auc", "oracle_auc", "feed_only_auc")


def run_one(
    config: SimConfig,
    policy: SimPolicy,
    out: Path,
    model: Any = None,
    on_day: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    sim = Simulation(config, policy, out, model)
    try:
        truth = sim.run(on_day)
        intents, loans = truth.frames()
        end = config.start + timedelta(days=config.days - 1)
        with sim.platform.read(ADMIN) as ctx:
            metrics = measure(ctx, intents, loans, config.start, end)
        metrics["retraining"] = truth.retrained
    finally:
        sim.platform.dispose()
    metrics["run"] = {
        "policy": policy.name,
        "customers": config.customers,
        "days": config.days,
        "seed": config.seed,
        "seconds": round(time.perf_counter() - started, 1),
        "refused_calls": dict(sorted(truth.refused.items())),
    }
    intents.to_csv(out / "intents.csv.gz", index=False)
    loans.to_csv(out / "loans.csv.gz", index=False)
    _write(out, [(policy.name, metrics)], metrics)
    return metrics


def prepare(policies: list[SimPolicy], out: Path) -> None:
    """Check the policies can run side by side and make every folder the run writes to, before a
    minute is spent: ValueError for two policies of one name, OSError for an unwritable ``out``."""
    if len({p.name for p in policies}) != len(policies):
        raise ValueError("the policies compared have the same name; compare two different ones")
    for folder in [out] + ([out / p.name for p in policies] if len(policies) > 1 else []):
        folder.mkdir(parents=True, exist_ok=True)


def simulate(
    config: SimConfig,
    policies: list[SimPolicy],
    out: Path,
    on_day: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run each policy on the same world and seed; returns what ``metrics.json`` holds."""
    prepare(policies, out)
    # one starting champion for every policy with the same data: only the policy differs
    pilot = pilot_size(config.customers)
    models = {
        feed: champion_model(config.seed, feed, pilot) for feed in {p.marketplace_feed for p in policies}
    }
    if len(policies) == 1:
        return run_one(config, policies[0], out, models[policies[0].marketplace_feed], on_day)
    runs = [(p.name, run_one(config, p, out / p.name, models[p.marketplace_feed], on_day)) for p in policies]
    (first, a), (second, b) = runs[0], runs[1]
    combined = {
        "compare": [first, second],
        first: a,
        second: b,
        "difference": {
            key: None if a.get(key) is None or b.get(key) is None else round(b[key] - a[key], 4)
            for key in HEADLINE
        },
    }
    _write(out, runs, combined)
    return combined


def _write(out: Path, runs: list[tuple[str, dict[str, Any]]], metrics: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False), encoding="utf-8")
    title = "bnpl season report" if len(runs) == 1 else f"bnpl season report: {runs[0][0]} vs {runs[1][0]}"
    (out / "report.html").write_text(render(runs, title), encoding="utf-8")
