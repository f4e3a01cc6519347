"""Benchmark: evaluating the default rule set for one checkout, velocity look-ups included.

Usage: python bench/rules.py [--history 5000] [--samples 3000]

Builds a history of orders (shared devices and addresses, one busy merchant) on PostgreSQL
(BNPL_DATABASE_URL, default the local test database) in a schema it drops afterwards, then times,
inside a transaction that holds the customer's account lock as a checkout does, the gathering of
the signals (one round trip of indexed counts, plus the advisory locks on device and address) and
the evaluation of every rule. The last line is one JSON object with p50_ms and p99_ms (signals and
rules), and rules_p50_ms and rules_p99_ms (the evaluation of the rules alone, on the signals just
gathered: the part the expression language costs, without the database round trip).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from typing import Any

from authorize import DEFAULT_URL, _platform, drop, setup

from bnpl.domain.orders import Item
from bnpl.risk.rules import evaluate
from bnpl.risk.signals import gather
from bnpl.runtime import Actor, Ctx
from bnpl.services import orders
from bnpl.services.credit_lines import lock_account


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=5000, help="orders placed before measuring")
    parser.add_argument("--samples", type=int, default=3000)
    args = parser.parse_args()
    url = os.environ.get("BNPL_DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        sys.exit("bench/rules.py measures PostgreSQL; set BNPL_DATABASE_URL=postgresql://...")
    schema = f"bnpl_rules_{uuid.uuid4().hex[:8]}"
    try:
        world = setup(url, schema)
        p = _platform(url, schema)
        assert p.rules is not None
        merchant = Actor("merchant", world["merchant_id"])
        customers = world["customers"]
        for i in range(args.history):  # devices shared by a few customers, addresses by more
            cmd = orders.AuthorizeCommand(
                world["merchant_id"],
                customers[i % len(customers)],
                [Item("sku-1", "tea", 20_00, 1)],
                channel="live_stream",
                device_id=f"dev-{i % 700}",
                address_hash=f"addr-{i % 300}",
            )
            p.run(merchant, lambda c, cmd=cmd: orders.authorize(c, cmd))
        rules = p.rules
        timings: list[float] = []
        rule_timings: list[float] = []

        def one(ctx: Ctx, i: int) -> None:
            cid = customers[(i * 7) % len(customers)]
            account = lock_account(ctx, cid)
            started = time.perf_counter()
            signals = gather(
                ctx,
                customer_id=cid,
                merchant_id=world["merchant_id"],
                amount=150_00,
                plan="pay_after_trial",
                channel="live_stream",
                categories=["tea"],
                items=1,
                account=account,
                device_id=f"dev-{i % 700}",
                address_hash=f"addr-{i % 300}",
                needed=rules.names,
            )
            gathered = time.perf_counter()
            evaluate(rules, signals)
            done = time.perf_counter()
            timings.append(done - started)
            rule_timings.append(done - gathered)

        for i in range(args.samples):
            p.run(merchant, lambda c, i=i: one(c, i))
        p.dispose()
    finally:
        drop(url, schema)
    warm = timings[len(timings) // 10 :]
    cuts = statistics.quantiles(warm, n=100)
    rule_cuts = statistics.quantiles(rule_timings[len(rule_timings) // 10 :], n=100)
    result: dict[str, Any] = {
        "database": "postgresql",
        "history_orders": args.history,
        "samples": len(warm),
        "rules": len(rules.rules),
        "p50_ms": round(cuts[49] * 1000, 3),
        "p99_ms": round(cuts[98] * 1000, 3),
        "rules_p50_ms": round(rule_cuts[49] * 1000, 3),
        "rules_p99_ms": round(rule_cuts[98] * 1000, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
