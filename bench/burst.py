"""Benchmark: a live-stream flash sale over HTTP, on PostgreSQL.

Usage: python bench/burst.py [--checkouts 20000] [--customers 5000] [--rate 2000] [--workers 1]
                           [--deciders 2]

20,000 checkouts from one live stream to one merchant, from 5,000 customers whose limits run out
part-way (each customer's limit covers about two of their four baskets), offered over HTTP to
127.0.0.1 at 2,000 requests/s, open loop: the schedule never waits for answers. Before the sale
the server serves two seconds of ordinary checkouts by other shoppers (--warm-up), as a live
server has served traffic before a stream starts: a server's first second (its connections opened,
its statements prepared) is not what a sale on a running platform meets. Bounded in
requests and in time (every request has a timeout; the run stops by itself). Reads
BNPL_DATABASE_URL (default: the local PostgreSQL test database), works in a schema of its own and
drops it. The last line is JSON:

  offered, answered        requests sent, and answered with any status
  approved, declined       201 answers by outcome (review: ``review``)
  shed                     503 answers (admission control; nothing was done)
  errors_5xx, timeouts     5xx other than 503, and requests with no answer within --timeout
  p50_ms, p99_ms           latency of the answered requests, from their scheduled send time
  over_limit               customers whose holds and balance exceed their limit (must be 0)
  ledger_ok                the ledger checks after the run
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from authorize import DEFAULT_URL, _platform, bench_server, checkpoint, drop, prior_book, run_client
from loadgen import Load, http_request

LIMIT = 250_00  # fen: two baskets of about 100 yuan, of the four each customer sends
PRICES = (79_00, 99_00, 119_00, 139_00)


def setup(url: str, schema: str, customers: int) -> dict[str, Any]:
    from bnpl.runtime import ADMIN
    from bnpl.services import parties
    from bnpl.store.db import make_engine
    from bnpl.store.migrate import upgrade

    admin = make_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    admin.dispose()
    p = _platform(url, schema)
    upgrade(p.engine)

    def world(c: Any) -> dict[str, Any]:
        m = parties.create_merchant(c, "Flash Sale Merchant", 60, 7, 3, ["tea"])
        fans = [parties.NewCustomer(f"Fan {i}", LIMIT) for i in range(customers)]
        ids = [cid for cid, _ in parties.open_accounts(c, fans)]
        return {"merchant_id": m["id"], "merchant_key": m["api_key"], "customers": ids}

    result: dict[str, Any] = p.run(ADMIN, world)
    p.dispose()
    return result


async def flash_sale(
    port: int, world: dict[str, Any], checkouts: int, rate: float, timeout: float, connections: int
) -> dict[str, Any]:
    """Offer ``checkouts`` requests at ``rate``/s on ``connections`` keep-alive connections; each is
    answered or counted a timeout ``timeout`` seconds after its scheduled time at the latest."""
    counts = dict.fromkeys(("answered", "approved", "declined", "review", "shed", "errors_5xx"), 0)
    other: dict[int, int] = {}
    latencies: list[float] = []
    rng = random.Random(7)
    customers = world["customers"]
    # each customer's four baskets spread over the sale, in a shuffled order
    order = [customers[i % len(customers)] for i in range(checkouts)]
    rng.shuffle(order)

    def then(status: int, answer: bytes, since_due: float, _since_sent: float) -> None:
        latencies.append(since_due)
        counts["answered"] += 1
        if status == 201:
            outcome = json.loads(answer)["status"]
            key = {"authorized": "approved", "declined": "declined"}.get(outcome, "review")
            counts[key] += 1
        elif status == 503:
            counts["shed"] += 1
        elif status >= 500:
            counts["errors_5xx"] += 1
        else:
            other[status] = other.get(status, 0) + 1

    # every request built before the sale: the load generator shares the machine with the server
    def basket(i: int) -> dict[str, Any]:
        return {"sku": f"sku-{i % 7}", "category": "tea", "unit_price": PRICES[i % 4], "quantity": 1}

    schedule = [
        (
            i / rate,
            http_request(
                "/orders",
                world["merchant_key"],
                f"flash-{i}",
                json.dumps(
                    {
                        "customer_id": order[i],
                        "channel": "live_stream",
                        "stream_id": "flash-1",
                        "items": [basket(i)],
                    }
                ).encode(),
            ),
            then,
        )
        for i in range(checkouts)
    ]
    load = Load(port, connections, timeout)
    await load.run(schedule)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "offered": checkouts,
        **counts,
        "timeouts": load.timeouts,
        "other_4xx": other,
        "p50_ms": round(cuts[49] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "seconds": round(load.seconds, 1),
    }


def after(url: str, schema: str) -> dict[str, Any]:
    """No customer above their limit, and the ledger's own checks."""
    from sqlalchemy import func, select

    from bnpl.services import checks
    from bnpl.store.tables import credit_accounts

    p = _platform(url, schema)
    a = credit_accounts.c
    with p.read() as c:
        over = c.conn.execute(
            select(func.count()).where(a.holds + a.outstanding > a.credit_limit)
        ).scalar_one()
        ok = bool(checks.check_ledger(c)["ok"])
    p.dispose()
    return {"over_limit": int(over), "ledger_ok": ok}


async def warm_up(port: int, world: dict[str, Any], regulars: list[int], seconds: float) -> None:
    """Ordinary checkouts by the regular shoppers (not the sale's) at 250 requests/s."""
    rate = 250
    body = {
        "channel": "short_video",
        "items": [{"sku": "w", "category": "tea", "unit_price": 9_00, "quantity": 1}],
    }
    schedule = [
        (
            i / rate,
            http_request(
                "/orders",
                world["merchant_key"],
                f"warm-{i}",
                json.dumps(body | {"customer_id": regulars[i % len(regulars)]}).encode(),
            ),
            lambda *_: None,
        )
        for i in range(int(seconds * rate))
    ]
    await Load(port, 64, 5.0).run(schedule)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument(
        "--regulars", type=int, default=1000, help="other shoppers with two orders each before the sale"
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--deciders", type=int, default=2, help="decision processes of each worker (0: its threads)"
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds a request may take")
    parser.add_argument("--connections", type=int, default=1024, help="client keep-alive connections")
    parser.add_argument(
        "--warm-up", type=float, default=2.0, help="seconds of other shoppers' checkouts before the sale"
    )
    args = parser.parse_args()
    url = os.environ.get("BNPL_DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        sys.exit("bench/burst.py measures PostgreSQL; set BNPL_DATABASE_URL=postgresql://...")
    schema = f"bnpl_burst_{uuid.uuid4().hex[:8]}"
    try:
        world = setup(url, schema, args.customers)
        regulars = prior_book(url, schema, world["merchant_id"], args.regulars)
        checkpoint(url, schema)
        with bench_server(url, schema, args.workers, args.deciders) as port:
            if args.warm_up > 0 and regulars:  # the regular shoppers warm it: none, no warm-up
                run_client(warm_up(port, world, regulars, args.warm_up))
            result = run_client(
                flash_sale(port, world, args.checkouts, args.rate, args.timeout, args.connections)
            )
        result |= after(url, schema)
    finally:
        drop(url, schema)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
