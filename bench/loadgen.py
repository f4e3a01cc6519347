"""An open-loop HTTP/1.1 load generator for the checkout benches, lean enough to share two cores
with the server it measures.

Requests are offered on a schedule that never waits for answers. Each goes on a free keep-alive
connection (or waits for one, in order), and is answered or counted as a timeout ``timeout``
seconds after its scheduled time at the latest; a connection whose request timed out is closed
(its late answer would be read as the next request's) and replaced. No task, stream or future per
request: each connection is an ``asyncio.Protocol`` that parses its answers as they arrive (about
75 µs of CPU a request here, against 120 with ``asyncio`` streams and a task per request: CPU
taken from the server it measures).
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

# what to do with an answer: (status, body, seconds since scheduled, seconds since sent) -> a next
# request to send on the same connection at once (e.g. the capture of an approved order), or None
Then = Callable[[int, bytes, float, float], bytes | None]


def http_request(path: str, auth: str, key: str, body: bytes = b"") -> bytes:
    """A POST as the load generators send it (HTTP/1.1, keep-alive, a merchant's key)."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {auth}\r\n"
        f"Idempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@dataclass
class _Job:
    request: bytes
    due: float
    then: Then
    sent: float = 0.0


class _Connection(asyncio.Protocol):
    def __init__(self, load: Load) -> None:
        self.load = load
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.job: _Job | None = None
        self.closing = False  # closed by the end of the run: not replaced

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = transport
        self.load._next(self)  # here, not after create_connection: uvloop may return first

    def send(self, job: _Job, now: float) -> None:
        assert self.transport is not None
        job.sent = now
        self.job = job
        self.transport.write(job.request)

    def data_received(self, data: bytes) -> None:
        try:
            self._parse(data)
        except Exception:  # an answer this client cannot read: the request is lost, not answered
            if self.transport is not None:
                self.transport.close()

    def _parse(self, data: bytes) -> None:
        self.buffer += data
        while self.job is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            lower = bytes(self.buffer[:end]).lower()
            at = lower.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = lower.find(b"\r\n", at + 2)
                length = int(lower[at + 17 : stop if stop >= 0 else end])
            if len(self.buffer) < end + 4 + length:
                return
            status = int(self.buffer[9:12])
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            job, self.job = self.job, None
            self.load._answered(self, job, status, body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.load._lost(self)


@dataclass
class Load:
    """``connections`` keep-alive connections to 127.0.0.1:``port``."""

    port: int
    connections: int
    timeout: float = 5.0
    timeouts: int = 0  # requests with no answer in time, or whose connection was lost
    seconds: float = 0.0  # from the first request's time to the last answer
    _idle: deque[_Connection] = field(default_factory=deque)
    _waiting: deque[_Job] = field(default_factory=deque)
    _busy: set[_Connection] = field(default_factory=set)
    _connecting: set[asyncio.Task[None]] = field(default_factory=set)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: _Connection(self), "127.0.0.1", self.port)
        except OSError:  # the server is gone: the waiting requests time out
            return

    async def run(self, schedule: Sequence[tuple[float, bytes, Then]]) -> None:
        """Offer each request at its time (seconds from now, in order) and return once every one is
        answered or timed out (bounded: the last one's time plus ``timeout``, and a little)."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(self._connect() for _ in range(self.connections)))
        begin = loop.time()
        watch = loop.create_task(self._watch())
        try:
            for offset, request, then in schedule:
                due = begin + offset
                now = loop.time()
                if due > now:
                    await asyncio.sleep(due - now)
                    now = loop.time()
                self._waiting.append(_Job(request, due, then))
                if self._idle:
                    self._next(self._idle.popleft())
            # a follow-up request may start up to ``timeout`` after the last scheduled one
            end = begin + (schedule[-1][0] if schedule else 0) + 2 * self.timeout + 1
            while (self._waiting or self._busy) and loop.time() < end:
                await asyncio.sleep(0.01)
            self.seconds = loop.time() - begin
        finally:
            watch.cancel()
            for conn in [*self._idle, *self._busy]:
                conn.closing = True
                if conn.transport is not None:
                    conn.transport.close()
            for task in list(self._connecting):
                task.cancel()

    def _next(self, conn: _Connection) -> None:
        """Give a free connection the oldest waiting request still in time, or park it."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._waiting:
            job = self._waiting.popleft()
            if now > job.due + self.timeout:
                self.timeouts += 1
                continue
            self._busy.add(conn)
            conn.send(job, now)
            return
        self._busy.discard(conn)
        self._idle.append(conn)

    def _answered(self, conn: _Connection, job: _Job, status: int, body: bytes) -> None:
        now = asyncio.get_running_loop().time()
        follow = job.then(status, body, now - job.due, now - job.sent)
        if follow is not None:
            conn.send(_Job(follow, now, job.then), now)
            return
        self._next(conn)

    def _lost(self, conn: _Connection) -> None:
        """A connection closed (by the server, or by this client over an unreadable answer): its
        request counts as unanswered, and a new connection takes its place."""
        if conn.job is not None:
            self.timeouts += 1
            conn.job = None
        self._busy.discard(conn)
        if conn in self._idle:
            self._idle.remove(conn)
        if not conn.closing:
            self._reconnect()

    def _reconnect(self) -> None:
        task = asyncio.get_running_loop().create_task(self._connect())
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def _watch(self) -> None:
        """Every 50 ms: a request past its time is a timeout; its connection is replaced."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.05)
            now = loop.time()
            for conn in list(self._busy):
                if conn.job is not None and now > conn.job.due + self.timeout:
                    # its answer may still come: this connection is spoiled, and replaced
                    self.timeouts += 1
                    conn.job = None
                    self._busy.discard(conn)
                    if conn.transport is not None:
                        conn.transport.close()
            while self._waiting and now > self._waiting[0].due + self.timeout:
                self._waiting.popleft()
                self.timeouts += 1
