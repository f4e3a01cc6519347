"""Benchmark: credit scoring, one customer at checkout and the whole population in bulk.

Usage: python bench/score.py [--rows 1000000] [--samples 20000] [--kind scorecard|lightgbm]

Trains the model kind on the synthetic platform-feature table (20,000 rows), then:
- single: for each of ``--samples`` customers, from a profile row already loaded as a dict and a
  credit account, assembles the checkout features (live utilisation overlaid), scores, grades and
  picks the four reason codes — exactly what the checkout calls (``services.credit.live_features``
  and ``credit.assess.assess``); p50/p99 in milliseconds;
- bulk: PD and grade for ``--rows`` customers' feature rows at once (``score_population``).
The last line is one JSON object with p99_ms and bulk_rows_per_s.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from types import SimpleNamespace

from bnpl.credit.assess import assess, score_population
from bnpl.credit.features import FEATURE_NAMES
from bnpl.credit.synthetic import generate, synthetic
from bnpl.services.credit import live_features
from bnpl.services.model_registry import learners


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--kind", choices=("scorecard", "lightgbm"), default="scorecard")
    args = parser.parse_args()

    model = learners()[args.kind](synthetic())
    population, _, _ = generate(args.rows, seed=11)
    profiles = [
        dict(zip(FEATURE_NAMES, row, strict=True)) for row in population.head(args.samples).to_numpy()
    ]
    account = SimpleNamespace(credit_limit=300_000, outstanding=120_000, holds=0)

    for profile in profiles[:500]:  # warm up
        assess(model, "bench", live_features(profile, account))
    gc.collect()
    gc.disable()  # time the scoring, not a collection that happens to land in one sample
    timings = []
    for profile in profiles:
        start = time.perf_counter()
        assess(model, "bench", live_features(profile, account))
        timings.append((time.perf_counter() - start) * 1000)
    gc.enable()
    timings.sort()

    start = time.perf_counter()
    scored = score_population(model, population)
    bulk_seconds = time.perf_counter() - start
    assert len(scored) == args.rows

    result = {
        "kind": args.kind,
        "samples": len(timings),
        "p50_ms": round(statistics.median(timings), 4),
        "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 4),
        "max_ms": round(timings[-1], 4),
        "bulk_rows": args.rows,
        "bulk_seconds": round(bulk_seconds, 2),
        "bulk_rows_per_s": round(args.rows / bulk_seconds),
        "grades": {str(k): int(v) for k, v in sorted(scored["grade"].value_counts().items())},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
