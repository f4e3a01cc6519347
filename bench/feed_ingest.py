"""Marketplace feed ingestion: a 100,000-event import through the one service function the CLI and
the API use (checked first, then bulk inserts in one transaction).

    python bench/feed_ingest.py [--events 100000] [--customers 1000]

Prints one JSON line per database: {"database", "events", "seconds", "events_per_second"}. SQLite
always (a fresh file); PostgreSQL too when BNPL_BENCH_DATABASE_URL is set (a fresh schema,
dropped afterwards). Generated data only: shoppers are numbers, orders are drawn at random.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bnpl.domain.marketplace import RecordType
from bnpl.runtime import ADMIN, FixedClock, Platform, Settings
from bnpl.services import marketplace
from bnpl.services.boot import open_platform
from bnpl.services.parties import NewCustomer, open_accounts
from bnpl.store.db import make_engine
from bnpl.store.migrate import upgrade

DAY = date(2026, 3, 2)
CATEGORIES = ("snacks", "tea", "beauty", "apparel", "home", "toys", "phones", "gold")


def records(n: int, customers: list[int], seed: int = 7) -> list[tuple[int, Any]]:
    rng = random.Random(seed)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    out: list[tuple[int, Any]] = []
    for i, cid in enumerate(customers):  # one profile each, the rest orders
        out.append(
            (
                i,
                {
                    "type": "profile",
                    "event_id": f"p-{cid}",
                    "customer_id": cid,
                    "observed_at": now.isoformat(),
                    "account_opened_at": (now - timedelta(days=rng.randint(30, 3000))).isoformat(),
                    "real_name_verified": rng.random() < 0.9,
                    "phone_tenure_band": rng.choice(["lt_6m", "6m_1y", "1y_3y", "3y_plus"]),
                    "payment_methods": rng.randint(0, 5),
                    "addresses_12m": rng.randint(1, 4),
                },
            )
        )
    for i in range(len(out), n):
        out.append(
            (
                i,
                {
                    "type": "order",
                    "event_id": f"o-{i}",
                    "customer_id": rng.choice(customers),
                    "occurred_at": (now - timedelta(seconds=rng.randint(0, 365 * 86_400))).isoformat(),
                    "category": rng.choice(CATEGORIES),
                    "channel": rng.choice(["live_stream", "short_video", "mall"]),
                    "amount": rng.randint(100, 200_000),
                    "payment_kind": rng.choice(["wallet", "debit_card", "credit_card", "instalment"]),
                    "outcome": rng.choices(
                        ["completed", "cancelled", "refunded", "returned", "payment_failed"], [80, 6, 4, 7, 3]
                    )[0],
                },
            )
        )
    return out


def run(platform: Platform, name: str, events: int, people: int) -> dict[str, Any]:
    ids = [
        cid
        for cid, _ in platform.run(
            ADMIN, lambda c: open_accounts(c, [NewCustomer(f"bench {i}", 0) for i in range(people)])
        )
    ]
    scope = [t.value for t in RecordType]
    for cid in ids:
        platform.run(
            ADMIN, lambda c, cid=cid: marketplace.grant_consent(c, cid, "credit_assessment", scope, "b1")
        )
    batch = records(events, ids)
    started = time.perf_counter()
    summary = platform.run(ADMIN, lambda c: marketplace.ingest(c, batch, where="line", max_batch=None))
    seconds = time.perf_counter() - started
    assert summary["accepted"] == events, summary
    return {
        "database": name,
        "events": events,
        "seconds": round(seconds, 2),
        "events_per_second": round(events / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'feed.db'}"
        engine = make_engine(url)
        upgrade(engine)
        platform = open_platform(Settings(database_url=url), clock=FixedClock(DAY), engine=engine)
        print(json.dumps(run(platform, "sqlite", args.events, args.customers)))
        platform.dispose()
    pg_url = os.environ.get("BNPL_BENCH_DATABASE_URL")
    if pg_url:
        schema = f"bnpl_bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(pg_url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        engine = make_engine(pg_url, pool_size=2, schema=schema)
        try:
            upgrade(engine)
            platform = open_platform(Settings(database_url=pg_url), clock=FixedClock(DAY), engine=engine)
            print(json.dumps(run(platform, "postgresql", args.events, args.customers)))
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            admin.dispose()


if __name__ == "__main__":
    main()
