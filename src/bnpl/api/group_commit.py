"""Group commit and admission control for checkouts and captures.

Each ``POST /orders`` (and ``POST /orders/{id}/capture``) hands its command to the process's
``GroupCommit`` and waits. The requests are split into ``workers`` lanes by customer, each lane
with at most one transaction running: while a lane is free, a request goes at once (a request on
a quiet server waits for nothing); while it is busy, the lane's requests that arrive meanwhile
gather and go together as one batch: one transaction for each caller in it, checkouts and captures
together (``services.orders.run_keyed`` over ``checkout_many``). So the batch grows with the load,
and a request waits at most about one batch's time (a few milliseconds) before its own starts.

A customer's requests are always in one lane, so two batches of this process running at once
never wait for each other's account locks: with the customers of a live stream spread over every
batch, two batches with no lanes almost always held one account in common, and the second waited
for the first to commit. A capture names only its order: its customer is the one this process
answered the checkout of (remembered for the last ``REMEMBERED`` orders); an order it does not
know goes to the lane of its id, where it may meet its customer's checkout in another lane (so
may the requests of two server processes: they wait, and are not wrong).

Admission control: at most ``max_in_flight`` requests wait or run in this process. The next one
is answered at once with 503 and ``Retry-After`` (problem+json), before anything is read or
written: a shed request changes nothing, and its Idempotency-Key can be sent again.

A batch that fails as a whole (not a refusal of one request: those are per request) is retried
one request per transaction, so one bad request never fails the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bnpl.api.decision_processes import DecisionProcesses
from bnpl.api.problems import problem_body
from bnpl.domain.errors import DomainError
from bnpl.runtime import Actor, Ctx, Platform
from bnpl.services import idempotency, orders

log = logging.getLogger("bnpl.api")
RETRY_AFTER_SECONDS = 1
REMEMBERED = 65_536  # orders whose customer this process knows, for their capture's lane
Outcome = orders.Answer | Exception  # a request's answer, or what failed it


class Overloaded(Exception):
    """More requests in flight than this process admits: answered 503 with Retry-After."""


def refusal(exc: DomainError) -> tuple[int, Any]:
    """A refused request's answer, as ``api.deps.execute`` gives it."""
    return exc.status, problem_body(exc.status, exc.code, exc.detail, **exc.extra)


@dataclass
class _Pending:
    actor: Actor
    keyed: orders.Keyed
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[orders.Answer]


class GroupCommit:
    def __init__(
        self, platform: Platform, max_batch: int, workers: int, max_in_flight: int, processes: int = 0
    ) -> None:
        self.platform = platform
        # with decision processes, one batch in flight per process: this process's threads only
        # hand batches over and wait (without the GIL), so its event loop keeps the CPU it needs
        self.processes = DecisionProcesses(platform, processes, decide) if processes > 0 else None
        workers = processes if processes > 0 else workers
        self.max_batch, self.workers, self.max_in_flight = max_batch, max(1, workers), max_in_flight
        self._lock = threading.Lock()
        self._lanes: list[list[_Pending]] = [[] for _ in range(self.workers)]
        self._busy = [False] * self.workers
        self._in_flight = 0
        self._customers: dict[int, int] = {}  # order id -> customer id, oldest first
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="group-commit")
        self.batches = 0  # how many transactions, and how many requests they carried (for benches)
        self.requests = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def submit(self, actor: Actor, keyed: orders.Keyed) -> orders.Answer:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[orders.Answer] = loop.create_future()
        with self._lock:
            lane = self._owner(keyed) % self.workers
            if self._in_flight >= self.max_in_flight:
                raise Overloaded
            self._in_flight += 1
            self._lanes[lane].append(_Pending(actor, keyed, loop, future))
            batch = None if self._busy[lane] else self._take(lane)
        try:
            if batch:
                self._pool.submit(self._run, lane, batch)
            return await future
        finally:
            with self._lock:
                self._in_flight -= 1

    def _take(self, lane: int) -> list[_Pending]:
        """The lane's next batch, its oldest waiting requests (the caller holds the lock); the lane
        is busy while there is one."""
        waiting = self._lanes[lane]
        batch, self._lanes[lane] = waiting[: self.max_batch], waiting[self.max_batch :]
        self._busy[lane] = bool(batch)
        return batch

    def _owner(self, keyed: orders.Keyed) -> int:
        """Whose request it is, for its lane: a checkout's customer; a capture's customer when
        this process answered its checkout, else its order's id (the caller holds the lock)."""
        command = keyed.command
        if isinstance(command, int):
            return self._customers.get(command, command)
        return int(command.customer_id)

    def _remember(self, results: list[Outcome]) -> None:
        """The customers of the orders just created (a 201 is a new order), for their captures'
        lanes. Only a hint: a failure here is logged and never fails the answered batch."""
        try:
            created = [
                (int(r.body["id"]), int(r.body["customer_id"]))
                for r in results
                if isinstance(r, orders.Answer) and r.status_code == 201
            ]
            with self._lock:
                self._customers.update(created)
                while len(self._customers) > REMEMBERED:
                    del self._customers[next(iter(self._customers))]
        except Exception:
            log.exception("the customers of a batch's new orders were not remembered")

    def _run(self, lane: int, batch: list[_Pending]) -> None:
        while batch:
            groups: dict[Actor, list[_Pending]] = {}
            for p in batch:
                groups.setdefault(p.actor, []).append(p)
            for actor, group in groups.items():
                try:
                    self._commit(actor, group)
                except BaseException as exc:  # never leave a request waiting, nor this worker busy
                    for p in group:
                        with contextlib.suppress(RuntimeError):
                            p.loop.call_soon_threadsafe(_fail, p.future, exc)
            with self._lock:
                self.batches += 1
                self.requests += len(batch)
                batch = self._take(lane)

    def _commit(self, actor: Actor, group: list[_Pending]) -> None:
        keyed = [p.keyed for p in group]
        results = self.processes.run(actor, keyed) if self.processes is not None else None
        if results is None:  # decided here (no decision processes, or none of them left)
            results = decide(self.platform, actor, keyed)
        by_loop: dict[
            asyncio.AbstractEventLoop, list[tuple[asyncio.Future[orders.Answer], orders.Answer]]
        ] = {}
        for p, result in zip(group, results, strict=True):
            if isinstance(result, BaseException):
                with contextlib.suppress(RuntimeError):
                    p.loop.call_soon_threadsafe(_fail, p.future, result)
            else:
                by_loop.setdefault(p.loop, []).append((p.future, result))
        for loop, done in by_loop.items():  # one wake-up of each event loop per batch, not per request
            with contextlib.suppress(RuntimeError):  # that loop is gone (its clients left)
                loop.call_soon_threadsafe(_set_all, done)
        self._remember(results)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.processes is not None:
            self.processes.close()


def decide(platform: Platform, actor: Actor, keyed: list[orders.Keyed]) -> list[Outcome]:
    """A batch's answers (checkouts and captures), in one transaction; if the batch fails as a whole
    (not a refusal of one request: those are answers), each request in a transaction of its own, so
    one bad request never fails the others. An exception in the list is that request's failure."""
    scope = str(actor)
    try:
        answers: list[Outcome] = list(platform.run(actor, _keyed(scope, keyed)))
        return answers
    except Exception:
        results: list[Outcome] = []
        for k in keyed:
            try:
                results.append(_one(platform, actor, k))
            except Exception as exc:
                results.append(exc)
        return results


def _keyed(scope: str, keyed: list[orders.Keyed]) -> Callable[[Ctx], list[orders.Answer]]:
    """The unit of work: the requests with their keys, over ``checkout_many``."""
    return lambda ctx: orders.run_keyed(ctx, scope, keyed, orders.checkout_many, orders.status_of, refusal)


def _one(platform: Platform, actor: Actor, keyed: orders.Keyed) -> orders.Answer:
    scope = str(actor)
    try:
        (answer,) = platform.run(actor, _keyed(scope, [keyed]))
        return answer
    except DomainError as exc:  # e.g. a closed business date: remembered, as execute() does
        code, body = refusal(exc)
        stored, replayed = platform.run(
            actor, lambda ctx: idempotency.remember(ctx, scope, keyed.key, keyed.fingerprint, code, body)
        )
        return orders.Answer(stored.status_code, stored.response, replayed)


def _set(future: asyncio.Future[orders.Answer], answer: orders.Answer) -> None:
    if not future.done():
        future.set_result(answer)


def _set_all(done: list[tuple[asyncio.Future[orders.Answer], orders.Answer]]) -> None:
    for future, answer in done:
        _set(future, answer)


def _fail(future: asyncio.Future[orders.Answer], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _is_checkout(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    return (
        scope["type"] == "http"
        and scope.get("method") == "POST"
        and (path == "/orders" or (path.startswith("/orders/") and path.endswith("/capture")))
    )


class AdmissionControl:
    """The bound on checkouts in flight, at the door: past it, a checkout or capture is answered
    503 before its body is read, its key looked up or anything validated (under overload the
    cheapest answer is the one that keeps the server responsive). The bound is the group commit's
    ``max_in_flight``; with group commit off there is none."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_checkout(scope):
            await self.app(scope, receive, send)
            return
        group: GroupCommit | None = getattr(scope["app"].state, "group_commit", None)
        if group is not None and self.in_flight >= group.max_in_flight:
            await shed_response()(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def shed_response() -> JSONResponse:
    """Overloaded: answered at once, nothing done; the same Idempotency-Key may be sent again."""
    return JSONResponse(
        problem_body(
            503, "overloaded", "too many checkouts in flight; nothing was done, retry with the same key"
        ),
        status_code=503,
        media_type="application/problem+json",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
