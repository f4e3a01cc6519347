"""Two signed payment callbacks with one provider payment id for two different customers, at once,
on PostgreSQL: one is applied, the other is the same 409 that SQLite (which serialises writers)
and a later resend give, never a 500 from the unique index on ``payments.provider_ref``."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bnpl.app import create_app
from bnpl.domain.errors import Conflict
from bnpl.runtime import Actor, Platform
from bnpl.services import repayments
from tests.server import live_server
from tests.world import World

PROVIDER = Actor("provider")


def test_the_second_of_two_racing_payments_with_one_id_is_a_conflict(pg_platform: Platform) -> None:
    """Deterministic: the first transaction holds its new payment row uncommitted until the second
    is waiting on the unique index, then commits."""
    w = World.create(pg_platform)
    other = w.new_customer()
    paid, release = threading.Event(), threading.Event()
    second_pid: list[int] = []

    def first() -> dict[str, Any]:
        def work(ctx: Any) -> dict[str, Any]:
            result = repayments.repay(ctx, w.customer_id, 10_00, provider_ref="pay-race", source="callback")
            paid.set()
            assert release.wait(10)
            return result

        return pg_platform.run(PROVIDER, work)

    def second() -> Any:
        assert paid.wait(10)

        def work(ctx: Any) -> dict[str, Any]:
            second_pid.append(ctx.conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            return repayments.repay(ctx, other, 10_00, provider_ref="pay-race", source="callback")

        try:
            return pg_platform.run(PROVIDER, work)
        except Conflict as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.submit(first), pool.submit(second)
        wait_for_a_lock_wait(pg_platform, second_pid)
        release.set()
        applied, refused = a.result(10), b.result(10)
    assert applied["customer_id"] == w.customer_id and applied["provider_ref"] == "pay-race"
    assert isinstance(refused, Conflict), refused
    # the refused payment left nothing behind: the other customer has no credit balance
    with pg_platform.read() as ctx:
        rows = ctx.conn.execute(text("SELECT customer_id FROM payments")).all()
    assert [r.customer_id for r in rows] == [w.customer_id]
    assert World(pg_platform, w.merchant_id, other).account()["credit_balance"] == 0


def wait_for_a_lock_wait(platform: Platform, pid: list[int]) -> None:
    """Until the session ``pid[0]`` waits on a lock (the second insert, on the unique index)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if pid:
            with platform.engine.connect() as conn:
                waiting = conn.execute(
                    text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": pid[0]},
                ).scalar()
            if waiting:
                return
        time.sleep(0.01)
    raise AssertionError("the second payment never waited on the first")


@pytest.fixture
def server(pg_platform: Platform) -> Iterator[tuple[str, Platform]]:
    with live_server(create_app(pg_platform)) as base:
        yield base, pg_platform


def test_two_signed_callbacks_racing_over_http_give_200_and_409(server: tuple[str, Platform]) -> None:
    base, platform = server
    w = World.create(platform)
    customers = [w.customer_id, w.new_customer()]
    secret = platform.settings.webhook_secret.encode()
    rounds = 8
    barrier = threading.Barrier(2)

    def send(args: tuple[int, int]) -> int:
        round_, customer_id = args
        raw = json.dumps(
            {"payment_id": f"pay-{round_}", "customer_id": customer_id, "amount": 1000, "status": "succeeded"}
        ).encode()
        signature = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            r = client.post(
                f"{base}/payments/callback",
                content=raw,
                headers={"X-Bnpl-Signature": signature, "Content-Type": "application/json"},
            )
        if r.status_code == 409:
            assert r.json()["code"] == "conflict"
        return r.status_code

    with ThreadPoolExecutor(2) as pool:
        for round_ in range(rounds):
            statuses = sorted(pool.map(send, [(round_, c) for c in customers]))
            assert statuses == [200, 409], (round_, statuses)
    with platform.read() as ctx:
        assert ctx.conn.execute(text("SELECT count(*) FROM payments")).scalar_one() == rounds
