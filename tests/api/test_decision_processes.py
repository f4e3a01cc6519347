"""Checkout batches decided in forked decision processes (BNPL_CHECKOUT_PROCESSES): the same
answers as on the server's own thread, and a process that stops fails only its batch."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest

from bnpl.api.decision_processes import OutcomeUnknown
from bnpl.api.group_commit import GroupCommit
from bnpl.domain.orders import Item
from bnpl.runtime import Platform
from bnpl.services import orders
from tests.world import World

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="decision processes need fork")


def _checkout(w: World, key: str, price: int) -> orders.Keyed:
    command = orders.AuthorizeCommand(w.merchant_id, w.customer_id, [Item("tea-1", "tea", price, 1)])
    return orders.Keyed(key, f"fp-{key}-{price}", command)


async def _submit(group: GroupCommit, w: World, requests: list[orders.Keyed]) -> list[Any]:
    return await asyncio.gather(*(group.submit(w.merchant, r) for r in requests), return_exceptions=True)


def test_decision_processes_answer_as_the_server_thread_does(platform: Platform) -> None:
    w = World.create(platform, limit=100_00)
    group = GroupCommit(platform, max_batch=10, workers=1, max_in_flight=100, processes=2)
    try:
        assert group.processes is not None and group.processes.live == 2
        first = asyncio.run(_submit(group, w, [_checkout(w, "a", 60_00)]))
        # the limit is used by "a": declined; "a" again is a replay; "c" with another body: 409
        again = asyncio.run(
            _submit(group, w, [_checkout(w, "b", 60_00), _checkout(w, "a", 60_00), _checkout(w, "c", 10_00)])
        )
        conflict = asyncio.run(_submit(group, w, [_checkout(w, "c", 20_00)]))
    finally:
        group.close()
    assert (first[0].status_code, first[0].body["status"], first[0].replayed) == (201, "authorized", False)
    assert [(a.status_code, a.body["status"], a.replayed) for a in again] == [
        (201, "declined", False),
        (201, "authorized", True),
        (201, "authorized", False),
    ]
    assert again[1].body["id"] == first[0].body["id"]
    assert conflict[0].status_code == 409
    assert w.account()["holds"] == 70_00  # written by the decision processes, read here
    assert all(_reaped(pid) for pid in group.processes.pids)


def test_a_process_found_stopped_is_passed_over(platform: Platform) -> None:
    """A decision process that stopped while idle is not given the batch: the next one is (here
    none is left, so the server process decides it)."""
    w = World.create(platform, limit=1000_00)
    group = GroupCommit(platform, max_batch=10, workers=1, max_in_flight=100, processes=1)
    try:
        assert group.processes is not None
        (pid,) = group.processes.pids
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        (answer,) = asyncio.run(_submit(group, w, [_checkout(w, "x", 10_00)]))
        assert group.processes.live == 0
    finally:
        group.close()
    assert (answer.status_code, answer.body["status"], answer.replayed) == (201, "authorized", False)
    assert w.account()["holds"] == 10_00


def test_a_process_that_stops_while_deciding_fails_that_batch_only(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bnpl.api import group_commit

    w = World.create(platform, limit=1000_00)
    server = os.getpid()
    real = orders.checkout_many

    def dies_in_a_decision_process(ctx: Any, cmds: list[Any]) -> list[Any]:
        answers = real(ctx, cmds)  # written, not committed, when the process dies
        if os.getpid() != server:
            os._exit(3)
        return answers

    monkeypatch.setattr(group_commit.orders, "checkout_many", dies_in_a_decision_process)
    group = GroupCommit(platform, max_batch=10, workers=1, max_in_flight=100, processes=1)
    try:
        (lost,) = asyncio.run(_submit(group, w, [_checkout(w, "x", 10_00)]))
        assert isinstance(lost, OutcomeUnknown) and "retry with the same Idempotency-Key" in str(lost)
        assert w.account()["holds"] == 0  # the dead process's transaction was never committed
        # the retry, with the same key, is decided in the server process (no decision process left)
        (answer,) = asyncio.run(_submit(group, w, [_checkout(w, "x", 10_00)]))
    finally:
        group.close()
    assert (answer.status_code, answer.body["status"], answer.replayed) == (201, "authorized", False)
    assert w.account()["holds"] == 10_00


def test_decision_processes_refuse_an_in_memory_database() -> None:
    from bnpl.runtime import Settings
    from bnpl.services.boot import open_platform

    memory = open_platform(Settings(database_url="sqlite://"))
    with pytest.raises(ValueError, match="database file or server"):
        GroupCommit(memory, max_batch=10, workers=1, max_in_flight=100, processes=1)


def _reaped(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_over_http_a_lost_batch_says_its_outcome_is_unknown(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not the generic 500 ("nothing was changed"): the batch may have committed before its process
    stopped, so the answer says to retry with the same key, and the retry is answered."""
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from bnpl.api import group_commit
    from bnpl.app import create_app
    from bnpl.runtime import Actor
    from bnpl.services.apikeys import issue_key
    from bnpl.services.boot import open_platform

    w = World.create(platform, limit=1000_00)
    key = platform.run(Actor("admin"), lambda c: issue_key(c, "merchant", w.merchant_id))
    server = os.getpid()
    real = orders.checkout_many

    def dies_in_a_decision_process(ctx: Any, cmds: list[Any]) -> list[Any]:
        if os.getpid() != server:
            os._exit(3)
        return real(ctx, cmds)

    monkeypatch.setattr(group_commit.orders, "checkout_many", dies_in_a_decision_process)
    app = create_app(open_platform(replace(platform.settings, checkout_processes=1), engine=platform.engine))
    body = {
        "customer_id": w.customer_id,
        "items": [{"sku": "t", "category": "tea", "unit_price": 10_00, "quantity": 1}],
    }
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "k-1"}
    try:
        with TestClient(app) as client:
            lost = client.post("/orders", json=body, headers=headers)
            again = client.post("/orders", json=body, headers=headers)
    finally:
        app.state.group_commit.close()
    assert lost.status_code == 500 and lost.json()["code"] == "outcome-unknown"
    assert "same Idempotency-Key" in lost.json()["detail"]
    assert (again.status_code, again.json()["status"]) == (201, "authorized")
    assert w.account()["holds"] == 10_00
