"""Races on PostgreSQL: many checkouts against one limit, many retries of one Idempotency-Key.

The second test drives a real uvicorn server on 127.0.0.1 from 20 threads at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from bnpl.app import create_app
from bnpl.domain.orders import Item
from bnpl.runtime import Actor, Platform
from bnpl.services import checks, orders
from bnpl.services.apikeys import issue_key
from tests.server import live_server
from tests.world import World


@pytest.mark.parametrize("batch", [1, 5], ids=["single", "batched"])
def test_fifty_threads_never_exceed_one_limit_and_count_velocity_exactly(
    pg_platform: Platform, batch: int
) -> None:
    """Fifty checkouts of one customer from concurrent threads: one each through the single path,
    or five per batch through the batched path (ten threads)."""
    w = World.create(pg_platform, limit=1000_00)
    threads = 50 // batch
    barrier = threading.Barrier(threads)
    merchant = Actor("merchant", w.merchant_id)

    def checkout(t: int) -> list[str]:
        cmds = [
            orders.AuthorizeCommand(w.merchant_id, w.customer_id, [Item(f"sku-{t}-{i}", "tea", 30_00, 1)])
            for i in range(batch)
        ]
        barrier.wait()
        if batch == 1:
            return [str(pg_platform.run(merchant, lambda c: orders.authorize(c, cmds[0]))["status"])]
        return [str(r["status"]) for r in pg_platform.run(merchant, lambda c: orders.authorize_many(c, cmds))]

    with ThreadPoolExecutor(threads) as pool:
        outcomes = [s for batch_outcomes in pool.map(checkout, range(threads)) for s in batch_outcomes]
    # 33 × 30 = 990 ≤ 1000 < 34 × 30: exactly 33 hold credit, whatever the interleaving
    assert outcomes.count("authorized") + outcomes.count("review") == 33
    assert outcomes.count("declined") == 17
    # and the velocity counts were exact under the race: the default rule sends the ninth
    # checkout in ten minutes to review, so exactly eight were authorized outright
    assert outcomes.count("authorized") == 8
    account = w.account()
    assert account["holds"] == 990_00 and account["available"] == 10_00
    with pg_platform.read() as c:
        assert checks.check_ledger(c)["ok"]


@pytest.fixture
def server(pg_platform: Platform) -> Iterator[tuple[str, Platform]]:
    with live_server(create_app(pg_platform)) as base:
        yield base, pg_platform


def test_twenty_concurrent_requests_with_one_key_make_one_order(server: tuple[str, Platform]) -> None:
    base, platform = server
    w = World.create(platform, limit=1000_00)
    key = platform.run(Actor("admin"), lambda c: issue_key(c, "merchant", w.merchant_id))
    body = {
        "customer_id": w.customer_id,
        "items": [{"sku": "x", "category": "tea", "unit_price": 10_00, "quantity": 1}],
    }
    barrier = threading.Barrier(20)

    def send(_: int) -> Any:
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            return client.post(
                f"{base}/orders",
                json=body,
                headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "same-key"},
            )

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(send, range(20)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers["Idempotent-Replayed"] == "false" for r in responses) == 1
    with platform.read(Actor("admin")) as c:
        assert len(orders.list_orders(c)) == 1
    assert w.account()["holds"] == 10_00
