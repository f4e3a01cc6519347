"""Checkout batches decided in processes of their own (``BNPL_CHECKOUT_PROCESSES``).

With the group commit's batches decided on a thread of the server process, that thread and the
event loop share one interpreter lock: every statement's answer from PostgreSQL waits for the lock
while the loop parses the next requests, and the loop waits while a batch is decided. Measured in
the flash sale (bench/burst.py), a batch's wall time was three times its CPU time. Here each
decision process is forked from the server process once its app is built (so it shares the
loaded code, the rules and the models), opens its own database connections, and decides one batch
at a time, sent and answered over a pipe; the server's thread that waits for it holds no lock.

A decision process ends when the server process does (its pipe closes). One that has stopped is
not given another batch; a batch sent to a process that stops before answering fails (500: its
outcome is unknown, and a retry with the same Idempotency-Key gets the committed answer if there
is one). With none left, batches are decided in the server process again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any

from bnpl.domain.errors import DomainError
from bnpl.runtime import Actor, Platform, plan_once

log = logging.getLogger("bnpl.api")

Decide = Callable[[Platform, Actor, list[Any]], list[Any]]


class OutcomeUnknown(RuntimeError):
    """The decision process stopped while deciding: its transaction may or may not have committed.
    The same Idempotency-Key gets the committed answer, or a fresh decision if there was none."""


class DecisionProcesses:
    def __init__(self, platform: Platform, count: int, decide: Decide) -> None:
        if not hasattr(os, "fork"):
            raise ValueError("BNPL_CHECKOUT_PROCESSES needs a system with fork (Linux, macOS)")
        url = platform.engine.url
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            raise ValueError("BNPL_CHECKOUT_PROCESSES needs a database file or server, not memory")
        self._free: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._owner = os.getpid()
        self.live = 0
        self.pids: list[int] = []
        self._mine: list[Connection] = []
        # no open database connection may cross the fork (SQLite's locks are per process)
        platform.engine.dispose()
        for _ in range(count):
            mine, theirs = Pipe()
            pid = os.fork()
            if pid == 0:  # the decision process: never returns into the server's code
                code = 1
                try:
                    for inherited in (*self._mine, mine):  # the server's ends: EOF must mean it
                        inherited.close()
                    _serve(platform, theirs, decide)
                    code = 0
                finally:
                    os._exit(code)
            theirs.close()
            self.pids.append(pid)
            self._mine.append(mine)
            self._free.put(mine)
            self.live += 1

    def run(self, actor: Actor, keyed: list[Any]) -> list[Any] | None:
        """The batch's answers from a free decision process, or None when none is left (then the
        caller decides it). A process found stopped when the batch is handed over is dropped and
        the next one tried; one that stops after taking the batch fails it (OutcomeUnknown)."""
        if os.getpid() != self._owner:  # a copy of this object in a forked server: not its pipes
            return None
        while True:
            conn = self._take()
            if conn is None:
                return None
            try:
                conn.send((actor, keyed))
            except (EOFError, OSError):  # stopped before the batch reached it: try another
                self._drop(conn)
                continue
            except BaseException:
                self._free.put(conn)  # nothing was written to the pipe
                raise
            try:
                answers: list[Any] = conn.recv()
            except (EOFError, OSError) as exc:
                self._drop(conn)
                raise OutcomeUnknown(
                    "the checkout's decision process stopped while deciding it; its outcome is "
                    "unknown: retry with the same Idempotency-Key"
                ) from exc
            except BaseException:
                self._free.put(conn)  # the whole answer was read: the pipe is in step
                raise
            self._free.put(conn)
            return answers

    def _take(self) -> Connection | None:
        while True:
            with self._lock:
                if self.live == 0:
                    return None
            try:
                return self._free.get(timeout=0.1)
            except queue.Empty:  # all busy; or the last one stopped while this waited
                continue

    def _drop(self, conn: Connection) -> None:
        with self._lock:
            self.live -= 1
        conn.close()
        for pid in self.pids:  # reap it, and any other that stopped
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        log.error("a checkout decision process stopped; %d left", self.live)

    def close(self, wait: float = 5.0) -> None:
        """Stop the decision processes: their pipes close (each ends at its next batch or at once
        when idle); any still running after ``wait`` seconds is terminated."""
        for conn in self._mine:
            conn.close()
        deadline = time.monotonic() + wait
        for pid in self.pids:
            while True:
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if done:
                    break
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, 0)
                    break
                time.sleep(0.01)


def _serve(platform: Platform, conn: Connection, decide: Decide) -> None:
    # a signal to the whole process group is the server's to act on; this process ends with its pipe
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    plan_once(platform.engine)  # only checkout and capture batches run here
    while True:
        try:
            actor, keyed = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answers = [_portable(a) for a in decide(platform, actor, keyed)]
            conn.send(answers)
        except (EOFError, OSError):
            return
        except Exception as exc:  # never die silently with the server waiting
            log.exception("a checkout batch failed in its decision process")
            conn.send([_portable(exc)] * len(keyed))


def _portable(answer: Any) -> Any:
    """An answer as it can cross the pipe: a driver's exception may not pickle, so a failure other
    than a refusal goes as a RuntimeError naming it."""
    if isinstance(answer, BaseException) and not isinstance(answer, DomainError):
        return RuntimeError(f"{type(answer).__name__}: {answer}")
    return answer
