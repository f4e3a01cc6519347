"""Benchmark: every console page, against a season with 100,000 customers.

Usage: python bench/console.py [--db var/season100k/bnpl-sim.db] [--customers 100000] [--days 60]
                               [--rounds 5] [--timeout 3600]

The book is a simulated season made through the real services (``bnpl simulate``): with --db an
existing season's database is used (it is copied, so the season itself is never changed), else
one is simulated first (100,000 customers take a while: the simulator's progress goes to stderr).
The benchmark adds one member of staff per role, starts the application on 127.0.0.1 (uvicorn, in
this process), signs each of them in, and requests every page they use --rounds times, one at a
time, timing each request from send to the last byte. The pages a case, a customer, an order or
a visit appears on are picked from the book (the worst case in the queue, its customer, the
busiest merchant's latest order).

The last line of stdout is one JSON object:
  customers, orders, decisions, cases    the size of the book
  pages                                   per page: median_ms, max_ms (over the rounds)
  slowest_page, slowest_ms                the worst single request
  all_under_300ms                         true when every request of every page was under 300 ms
The whole run stops by itself after --timeout seconds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select

from bnpl.app import create_app
from bnpl.runtime import ADMIN, Platform, Settings
from bnpl.services.boot import open_platform
from bnpl.services.staff import one_per_role
from bnpl.sim.engine import DB_NAME, SimClock, SimConfig
from bnpl.sim.policy import load_policy
from bnpl.sim.season import simulate
from bnpl.store.db import make_engine
from bnpl.store.migrate import upgrade
from bnpl.store.tables import (
    collection_agents,
    collection_cases,
    customers,
    decisions,
    eod_steps,
    field_visits,
    orders,
)

PASSWORD = "bench-password-long"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="an existing season database (bnpl-sim.db)")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    timer = threading.Timer(args.timeout, lambda: (print("timed out", file=sys.stderr), sys.exit(3)))
    timer.daemon = True
    timer.start()
    work = Path(tempfile.mkdtemp(prefix="bnpl-console-bench-"))
    try:
        db = work / DB_NAME
        if args.db:
            shutil.copy(args.db, db)
        else:
            print(f"simulating {args.customers:,} customers over {args.days} days …", file=sys.stderr)
            config = SimConfig(customers=args.customers, days=args.days, seed=7)
            simulate(config, [load_policy("baseline")], work / "season")
            shutil.copy(work / "season" / DB_NAME, db)
        print(json.dumps(run(db, args.rounds)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(db: Path, rounds: int) -> dict[str, Any]:
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    upgrade(engine)  # a season made before the console's tables gets them
    engine.dispose()
    probe = open_platform(Settings(database_url=url))
    with probe.read() as ctx:
        last = ctx.conn.execute(select(func.max(eod_steps.c.business_date))).scalar()
    probe.dispose()
    clock = SimClock(last)
    clock.set_time(last, 2)  # 10:00 in Shanghai on the season's last day
    platform = open_platform(Settings(database_url=url), clock=clock)
    facts = _facts(platform)
    users = _staff(platform, facts)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    pages = {
        "admin": ["/console/dashboard"],
        "risk_analyst": [
            "/console/dashboard",
            f"/console/customers/{facts['customer']}",
            "/console/customers?q=Shopper 4242",
            "/console/risk/decisions",
            f"/console/risk/decisions?customer={facts['customer']}",
            "/console/risk/decisions?outcome=decline",
            "/console/risk/reviews",
            "/console/risk/rules",
            "/console/risk/models",
        ],
        "agent": [
            "/console/queue",
            f"/console/cases/{facts['case']}",
            f"/console/cases/{facts['case']}?template=collect_call",
        ],
        "supervisor": ["/console/supervisor", f"/console/cases/{facts['case']}"],
        "field_agent": ["/console/visits"],
        "merchant": [
            "/console/merchant/orders",
            f"/console/merchant/orders/{facts['order']}",
            "/console/merchant/settlements",
        ],
    }
    timings: dict[str, list[float]] = {}
    try:
        for role, paths in pages.items():
            with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as client:
                _sign_in(client, users[role])
                for path in paths:
                    client.get(path)  # warm: templates compiled, statements cached
                    for _ in range(rounds):
                        started = time.perf_counter()
                        response = client.get(path)
                        elapsed = (time.perf_counter() - started) * 1000
                        if response.status_code != 200:
                            raise SystemExit(f"{role} {path}: HTTP {response.status_code}")
                        timings.setdefault(f"{role} {path}", []).append(elapsed)
    finally:
        server.should_exit = True
        thread.join(5)
        platform.dispose()
    slowest = max(timings, key=lambda k: max(timings[k]))
    return {
        **{k: facts[k] for k in ("customers", "orders", "decisions", "cases")},
        "pages": {
            k: {"median_ms": round(statistics.median(v), 1), "max_ms": round(max(v), 1)}
            for k, v in timings.items()
        },
        "slowest_page": slowest,
        "slowest_ms": round(max(timings[slowest]), 1),
        "all_under_300ms": all(max(v) < 300 for v in timings.values()),
    }


def _facts(platform: Platform) -> dict[str, Any]:
    with platform.read() as ctx:
        c = ctx.conn

        def count(table: Any) -> int:
            return int(c.execute(select(func.count()).select_from(table)).scalar_one())

        case = c.execute(
            select(collection_cases.c.id, collection_cases.c.agent_id, collection_cases.c.customer_id)
            .where(collection_cases.c.status == "open", collection_cases.c.agent_id.is_not(None))
            .order_by(collection_cases.c.dpd.desc())
        ).first()
        busiest = c.execute(
            select(orders.c.merchant_id).group_by(orders.c.merchant_id).order_by(func.count().desc())
        ).scalar()
        order = c.execute(select(func.max(orders.c.id)).where(orders.c.merchant_id == busiest)).scalar()
        roles = {r.role: r.id for r in c.execute(select(collection_agents.c.id, collection_agents.c.role))}
        visits = count(field_visits)
        if case is None:
            raise SystemExit("the season has no open case with an agent: simulate more days")
        return {
            "customers": count(customers),
            "orders": count(orders),
            "decisions": count(decisions),
            "cases": count(collection_cases),
            "visits": visits,
            "case": case.id,
            "case_agent": case.agent_id,
            "customer": case.customer_id,
            "merchant": busiest,
            "order": order,
            "field_agent": roles.get("field_agent"),
            "supervisor": roles.get("supervisor"),
        }


def _staff(platform: Platform, facts: dict[str, Any]) -> dict[str, str]:
    pattern = f"bench.{{role}}.{int(time.time() * 1000) % 100000}"  # a fresh name for each run
    users: dict[str, str] = platform.run(
        ADMIN,
        lambda ctx: one_per_role(
            ctx,
            pattern,
            PASSWORD,
            facts["case_agent"],
            facts["supervisor"],
            facts["field_agent"],
            facts["merchant"],
        ),
    )
    return users


def _sign_in(client: httpx.Client, username: str) -> None:
    page = client.get("/console/login")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    done = client.post("/console/login", data={"username": username, "password": PASSWORD, "csrf": csrf})
    if done.status_code != 303 or "error" in done.headers.get("location", ""):
        raise SystemExit(f"cannot sign in as {username}")


def _free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


if __name__ == "__main__":
    main()
