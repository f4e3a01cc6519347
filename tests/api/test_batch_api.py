"""A merchant's live-stream queue over HTTP (POST /orders/batch), and admission control: under
overload a checkout is shed at once with 503 and Retry-After, having changed nothing."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from bnpl.api.group_commit import GroupCommit
from bnpl.app import create_app
from bnpl.domain.orders import Item
from bnpl.runtime import Actor, Platform, Settings
from bnpl.services import checks, orders
from bnpl.services.apikeys import issue_key
from tests.api.conftest import ADMIN_KEY, Api
from tests.server import live_server
from tests.world import World


def _order(customer_id: int, key: str, price: int = 10_00, **extra: Any) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "customer_id": customer_id,
        "items": [{"sku": "tea-1", "category": "tea", "unit_price": price, "quantity": 1}],
        **extra,
    }


def test_a_batch_answers_each_checkout_as_a_single_post_would(api: Api) -> None:
    s = api.setup(limit=100_00)
    merchant, cid = s["merchant"]["api_key"], s["customer"]["id"]
    batch = {
        "orders": [
            _order(cid, "b-1", 60_00),
            _order(999_999, "b-2"),  # no such customer: a 404 problem for this one only
            _order(cid, "b-3", 60_00),  # the limit is used by b-1: declined
            _order(cid, "b-4", 10_00, currency="USD"),
            _order(cid, "b-1", 60_00),  # the same key again: a replay of the first
        ]
    }
    r = api.post("/orders/batch", merchant, batch)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [(x["idempotency_key"], x["status"], x["replayed"]) for x in results] == [
        ("b-1", 201, False),
        ("b-2", 404, False),
        ("b-3", 201, False),
        ("b-4", 422, False),
        ("b-1", 201, True),
    ]
    assert results[0]["body"]["status"] == "authorized" and results[2]["body"]["status"] == "declined"
    assert results[1]["body"]["code"] == "not-found" and results[3]["body"]["code"] == "currency-mismatch"
    # the key of a batched checkout is the key of that checkout: a single POST replays it
    single = {k: v for k, v in _order(cid, "x", 60_00).items() if k != "idempotency_key"}
    again = api.post("/orders", merchant, single, idem="b-1")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == results[0]["body"]
    assert api.post("/orders", merchant, single, idem="b-3").json()["id"] == results[2]["body"]["id"]
    reused = api.post("/orders/batch", merchant, {"orders": [_order(cid, "b-1", 5_00)]})
    assert reused.json()["results"][0]["status"] == 409


def test_a_batch_whose_keys_are_always_kept_first_elsewhere_is_answered_busy_and_keeps_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run of the batch finds a key kept meanwhile by another request (here: always): after
    the retries, 503 with Retry-After, and nothing of the batch was kept."""
    from bnpl.services import idempotency

    s = api.setup(limit=100_00)
    merchant, cid = s["merchant"]["api_key"], s["customer"]["id"]
    monkeypatch.setattr(idempotency, "keep_many", lambda *_: set())
    r = api.post("/orders/batch", merchant, {"orders": [_order(cid, "busy-1", 60_00)]})
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert r.headers["content-type"].startswith("application/problem+json") and r.json()["code"] == "busy"
    monkeypatch.undo()
    customer = api.get(f"/customers/{cid}", ADMIN_KEY).json()
    assert customer["account"]["holds"] == 0
    again = api.post("/orders/batch", merchant, {"orders": [_order(cid, "busy-1", 60_00)]})
    assert again.json()["results"][0]["status"] == 201 and not again.json()["results"][0]["replayed"]


def test_a_malformed_batch_is_refused_whole(api: Api) -> None:
    s = api.setup()
    merchant, cid = s["merchant"]["api_key"], s["customer"]["id"]
    assert api.post("/orders/batch", merchant, {"orders": []}).status_code == 422
    too_many = {"orders": [_order(cid, f"k{i}") for i in range(201)]}
    assert api.post("/orders/batch", merchant, too_many).status_code == 422
    no_key = {"orders": [{k: v for k, v in _order(cid, "k").items() if k != "idempotency_key"}]}
    assert api.post("/orders/batch", merchant, no_key).status_code == 422
    assert api.post("/orders/batch", "dev-admin-key", {"orders": [_order(cid, "k")]}).status_code == 403
    assert api.get("/orders", merchant).json() == []  # nothing of a refused batch was done


def test_overload_is_shed_at_once_and_the_key_can_be_retried(pg_platform: Platform) -> None:
    """Two checkouts wait on a customer's account, locked elsewhere; with two in flight allowed,
    the third is answered 503 with Retry-After at once, and changed nothing: sent again with its
    key once the lock is gone, it is decided like any other."""
    w = World.create(pg_platform, limit=1000_00)
    key = pg_platform.run(Actor("admin"), lambda c: issue_key(c, "merchant", w.merchant_id))
    app = create_app(pg_platform)
    group = GroupCommit(pg_platform, max_batch=100, workers=1, max_in_flight=2)
    app.state.group_commit = group
    body = {
        "customer_id": w.customer_id,
        "items": [{"sku": "x", "category": "tea", "unit_price": 10_00, "quantity": 1}],
    }

    def send(base: str, idem: str) -> httpx.Response:
        with httpx.Client(timeout=30) as client:
            return client.post(
                f"{base}/orders",
                json=body,
                headers={"Authorization": f"Bearer {key}", "Idempotency-Key": idem},
            )

    blocker = pg_platform.engine.connect()
    blocker.begin()
    blocker.execute(
        text("SELECT 1 FROM credit_accounts WHERE customer_id = :c FOR UPDATE"), {"c": w.customer_id}
    )
    with live_server(app) as base, ThreadPoolExecutor(2) as pool:
        try:
            waiting = [pool.submit(send, base, f"w-{i}") for i in range(2)]
            deadline = time.monotonic() + 20
            while group.in_flight < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert group.in_flight == 2
            shed = send(base, "shed-1")
            assert shed.status_code == 503
            assert shed.headers["Retry-After"] == "1"
            assert shed.headers["content-type"].startswith("application/problem+json")
            assert shed.json()["code"] == "overloaded"
        finally:
            blocker.rollback()
            blocker.close()
        assert [f.result().status_code for f in waiting] == [201, 201]
        with pg_platform.read(Actor("admin")) as c:
            assert len(orders.list_orders(c)) == 2  # the shed checkout made no order, kept no key
            stored = c.conn.execute(text("SELECT count(*) FROM idempotency_keys WHERE key = 'shed-1'"))
            assert stored.scalar_one() == 0
        retried = send(base, "shed-1")
        assert retried.status_code == 201 and retried.headers["Idempotent-Replayed"] == "false"
    assert w.account()["holds"] == 30_00
    with pg_platform.read() as c:
        assert checks.check_ledger(c)["ok"]


def test_concurrent_checkouts_are_committed_in_shared_batches(pg_platform: Platform) -> None:
    """Forty concurrent checkouts of forty customers through one server: every one decided once,
    fewer transactions than requests once the workers are busy."""
    w = World.create(pg_platform, limit=1000_00)
    customers = [w.new_customer(100_00) for _ in range(40)]
    key = pg_platform.run(Actor("admin"), lambda c: issue_key(c, "merchant", w.merchant_id))
    app = create_app(pg_platform)
    group = GroupCommit(pg_platform, max_batch=100, workers=1, max_in_flight=1000)
    app.state.group_commit = group
    barrier = threading.Barrier(40)

    def send(base: str, i: int) -> httpx.Response:
        body = {
            "customer_id": customers[i],
            "items": [{"sku": "x", "category": "tea", "unit_price": 60_00, "quantity": 1}],
        }
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            return client.post(
                f"{base}/orders",
                json=body,
                headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"g{i}"},
            )

    with live_server(app) as base, ThreadPoolExecutor(40) as pool:
        responses = list(pool.map(lambda i: send(base, i), range(40)))
    assert {r.status_code for r in responses} == {201}
    assert {r.json()["status"] for r in responses} == {"authorized"}
    assert group.requests == 40 and group.batches < 40
    with pg_platform.read() as c:
        assert checks.check_ledger(c)["ok"]


def test_batches_running_at_once_never_share_a_customer(
    pg_platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six customers, ten concurrent checkouts each, two transactions at a time; then every order's
    capture with a new checkout of each customer: no two batches running at once hold a customer in
    common (the second would wait for the first's account locks), a capture goes to its customer's
    lane (its checkout was answered here), checkouts and captures share a transaction (its captures
    decided first), and each customer's checkouts are decided in the order they came."""
    import asyncio

    from bnpl.api import group_commit

    w = World.create(pg_platform, limit=1000_00)
    customers = [w.new_customer(1000_00) for _ in range(6)]
    real = orders.checkout_many
    owner: dict[int, int] = {}  # order id -> customer id, as the test learns them
    running: list[set[int]] = []
    overlaps: list[set[int]] = []
    seen: list[tuple[int, str, int]] = []  # (customer, kind, price or order id) in the order decided
    mixed: list[int] = []
    guard = threading.Lock()

    def watched(ctx: Any, cmds: list[Any]) -> list[Any]:
        mine = {owner[c] if isinstance(c, int) else c.customer_id for c in cmds}
        with guard:
            overlaps.extend(mine & other for other in running if mine & other)
            running.append(mine)
            seen.extend(
                (owner[c], "capture", c)
                if isinstance(c, int)
                else (c.customer_id, "checkout", c.items[0].unit_price)
                for c in cmds
            )
            if len({isinstance(c, int) for c in cmds}) == 2:
                mixed.append(len(cmds))
        try:
            time.sleep(0.02)  # long enough for the other lane's batch to start meanwhile
            return real(ctx, cmds)
        finally:
            with guard:
                running.remove(mine)

    monkeypatch.setattr(group_commit.orders, "checkout_many", watched)
    group = GroupCommit(pg_platform, max_batch=4, workers=2, max_in_flight=1000)

    def checkout(n: int, cid: int) -> Any:
        command = orders.AuthorizeCommand(w.merchant_id, cid, [Item("x", "tea", 1_00 + n, 1)])
        return group.submit(w.merchant, orders.Keyed(f"k{n}-{cid}", f"fp{n}-{cid}", command))

    async def sale() -> list[orders.Answer]:
        return await asyncio.gather(*(checkout(n, cid) for n in range(10) for cid in customers))

    answers = asyncio.run(sale())
    assert {a.status_code for a in answers} == {201}
    owner |= {a.body["id"]: a.body["customer_id"] for a in answers}
    authorized = {a.body["id"] for a in answers if a.body["status"] == "authorized"}
    assert len(authorized) >= 30  # (the velocity rules send a customer's ninth to review)

    async def captures_and_more() -> list[orders.Answer]:
        requests = []
        for cid in customers:
            requests += [
                group.submit(w.merchant, orders.Keyed(f"c{oid}", f"c{oid}", oid))
                for oid, who in owner.items()
                if who == cid and oid in authorized
            ]
            requests.append(checkout(10, cid))
        return await asyncio.gather(*requests)

    later = asyncio.run(captures_and_more())
    group.close()
    assert sorted(a.status_code for a in later) == [200] * len(authorized) + [201] * 6
    assert overlaps == []
    assert mixed  # a transaction carried checkouts and captures
    assert group.batches > 2  # batches did run side by side, and none shared a customer
    for cid in customers:  # a customer's requests in the order they were sent
        mine = [(kind, what) for who, kind, what in seen if who == cid]
        captured = sorted(o for o, who in owner.items() if who == cid and o in authorized)
        assert [kind for kind, _ in mine] == ["checkout"] * 10 + ["capture"] * len(captured) + ["checkout"]
        assert [what for _, what in mine[:10]] == [1_00 + n for n in range(10)]
        assert sorted(what for _, what in mine[10:-1]) == captured


@pytest.mark.parametrize(
    "bad",
    [
        {"checkout_batch_max": 0},
        {"checkout_batch_max": 501},
        {"checkout_batch_workers": -1},
        {"checkout_batch_workers": 65},
        {"checkout_in_flight_max": 0},
    ],
)
def test_group_commit_settings_refuse_nonsense(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="BNPL_CHECKOUT_"):
        Settings(**bad).check()


def test_group_commit_can_be_turned_off(platform: Platform) -> None:
    """Workers 0: each checkout its own transaction (the single path), no group commit."""
    p = platform
    off = Platform(
        replace(p.settings, checkout_batch_workers=0), p.clock, p.engine, p.rules, p.models, p.calendar
    )
    app = create_app(off)
    assert app.state.group_commit is None
    with TestClient(app) as client:
        api = Api(client)
        s = api.setup(limit=100_00)
        first, second = api.checkout(s, 60_00), api.checkout(s, 60_00)
    assert (first.status_code, first.json()["status"]) == (201, "authorized")
    assert (second.status_code, second.json()["status"]) == (201, "declined")


def test_a_batch_that_fails_whole_is_retried_one_request_at_a_time(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that fails as a whole (not one request's refusal) does not fail its requests: each
    is retried in a transaction of its own."""
    import asyncio

    from bnpl.api import group_commit

    w = World.create(platform, limit=1000_00)
    real = orders.checkout_many

    def fails_in_company(ctx: Any, cmds: list[Any]) -> list[Any]:
        if len(cmds) > 1:
            raise RuntimeError("a bug that only a batch meets")
        return real(ctx, cmds)

    monkeypatch.setattr(group_commit.orders, "checkout_many", fails_in_company)
    group = GroupCommit(platform, max_batch=10, workers=1, max_in_flight=100)
    batch = [
        group_commit._Pending(
            w.merchant,
            orders.Keyed(
                f"r{i}",
                f"fp{i}",
                orders.AuthorizeCommand(w.merchant_id, w.customer_id, [Item("x", "tea", 10_00, 1)]),
            ),
            loop,
            loop.create_future(),
        )
        for loop in [asyncio.new_event_loop()]
        for i in range(3)
    ]
    group._busy[0] = True
    group._run(0, batch)
    loop = batch[0].loop
    loop.run_until_complete(asyncio.sleep(0))
    answers = [p.future.result() for p in batch]
    loop.close()
    assert [(a.status_code, a.body["status"]) for a in answers] == [(201, "authorized")] * 3
    assert w.account()["holds"] == 30_00
