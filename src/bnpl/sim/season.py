"""One season, or two policies on the same world side by side: run, measure, write the report.

Output in ``out``: ``report.html`` (self-contained), ``metrics.json`` (the same figures), the
simulator's truth (``intents.csv.gz``, ``loans.csv.gz``) and the season's database
(``bnpl-sim.db``, the platform's own records, for any query the report does not answer). With
two policies each run has its own folder and ``out`` holds the side-by-side report.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
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
    """Run each policy on the same world and seed; returns what ``metrics.json`` holds. Two
    policies run side by side, each in a process of its own (a season is one core's work)."""
    prepare(policies, out)
    pilot = pilot_size(config.customers)
    if len(policies) == 1:
        model = champion_model(config.seed, policies[0].marketplace_feed, pilot)
        return run_one(config, policies[0], out, model, on_day)
    runs = _side_by_side(config, policies, out, pilot, on_day)
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


def _side_by_side(
    config: SimConfig,
    policies: list[SimPolicy],
    out: Path,
    pilot: int,
    on_day: Callable[[int], None] | None,
) -> list[tuple[str, dict[str, Any]]]:
    """Each policy's season in a process of its own (spawned: nothing of this one is inherited),
    reporting its days and then its metrics on one queue. Each starts from the champion its data
    gives (``champion_model`` is deterministic: the same data, the same model), so only the policy
    differs. A refused policy is a ValueError here; a season that fails, or whose process dies,
    stops the other at once; so does Ctrl-C, which only this process acts on."""
    spawn = multiprocessing.get_context("spawn")
    events = spawn.Queue()
    workers = {
        p.name: spawn.Process(
            target=_season_worker, args=(config, p, out / p.name, pilot, events), daemon=True
        )
        for p in policies
    }
    with _ctrl_c_ignored():  # the children inherit it through exec; this process stops them
        for worker in workers.values():
            worker.start()
    done: dict[str, dict[str, Any]] = {}
    ended: dict[str, float] = {}
    try:
        while len(done) < len(policies):
            _check_running(workers, done, ended)
            try:
                kind, name, value = events.get(timeout=1)
            except queue.Empty:
                continue
            if kind == "day":
                if on_day is not None:
                    on_day(value)
            elif kind == "done":
                done[name] = value
            elif kind == "refused":
                raise ValueError(value)
            else:
                raise RuntimeError(f"the {name} season failed: {value}")
    finally:
        for worker in workers.values():
            if worker.is_alive() and len(done) < len(policies):
                worker.terminate()
            worker.join()
    return [(p.name, done[p.name]) for p in policies]


def _check_running(workers: dict[str, Any], done: dict[str, Any], ended: dict[str, float]) -> None:
    """A season's process that ended without its result (killed, out of memory): everything it
    put is on the queue before it ends, so a few seconds after it is enough to be sure."""
    now = time.monotonic()
    for name, worker in workers.items():
        if name not in done and worker.exitcode is not None and now - ended.setdefault(name, now) > 3:
            code = worker.exitcode
            hint = " (killed: out of memory?)" if code == -signal.SIGKILL else ""
            raise RuntimeError(
                f"the {name} season's process stopped without a result, exit code {code}{hint}"
            )


@contextlib.contextmanager
def _ctrl_c_ignored() -> Iterator[None]:
    """Ctrl-C reaches the whole process group; children started inside ignore it (from their very
    start: an interrupt while they import would print their tracebacks), and the parent, which
    gets it, stops them."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; nor does Ctrl-C reach another one
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _season_worker(config: SimConfig, policy: SimPolicy, out: Path, pilot: int, events: Any) -> None:
    parent = multiprocessing.parent_process()

    def report(day: int) -> None:
        if parent is not None and not parent.is_alive():
            raise SystemExit(1)  # the parent was stopped (SIGTERM, say): no one waits for this season
        events.put(("day", policy.name, day))

    try:
        model = champion_model(config.seed, policy.marketplace_feed, pilot)
        metrics = run_one(config, policy, out, model, report)
        events.put(("done", policy.name, metrics))
    except ValueError as exc:
        events.put(("refused", policy.name, str(exc)))
    except Exception as exc:  # the first line for the user, the traceback for BNPL_DEBUG
        events.put(("failed", policy.name, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def _write(out: Path, runs: list[tuple[str, dict[str, Any]]], metrics: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False), encoding="utf-8")
    title = "bnpl season report" if len(runs) == 1 else f"bnpl season report: {runs[0][0]} vs {runs[1][0]}"
    (out / "report.html").write_text(render(runs, title), encoding="utf-8")
