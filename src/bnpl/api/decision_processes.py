"""Checkout batches decided in processes of their own (``BNPL_CHECKOUT_PROCESSES``).

With the group commit's batches decided on a thread of the server process, that thread and the
event loop share one interpreter lock: every statement's answer from PostgreSQL waits for the lock
while the loop parses the next requests, and the loop waits while a batch is decided. Measured in
the flash sale (bench/burst.py), a batch's wall time was three times its CPU time. Here each
decision process is forked from the server process once its app is built (so it shares the
loaded code, the rules and the models), holds its own database connections, and decides one batch
at a time, sent and answered over a pipe; the server's thread that waits for it holds no lock.

A decision process ends when the server process does (its pipe closes). If one stops, its batch
fails (the requests are answered 500, nothing of a failed transaction is kept) and the next batches
go to the others; with none left, batches are decided in the server process again.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
from collections.abc import Callable
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any

from bnpl.domain.errors import DomainError
from bnpl.runtime import Actor, Platform

Decide = Callable[[Platform, Any, Actor, list[Any]], list[Any]]


class DecisionProcesses:
    def __init__(self, platform: Platform, count: int, decide: Decide) -> None:
        if not hasattr(os, "fork"):
            raise ValueError("BNPL_CHECKOUT_PROCESSES needs a system with fork (Linux, macOS)")
        self._free: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self.live = 0
        self.pids: list[int] = []
        for _ in range(count):
            mine, theirs = Pipe()
            pid = os.fork()
            if pid == 0:  # the decision process: never returns into the server's code
                mine.close()
                code = 1
                try:
                    _serve(platform, theirs, decide)
                    code = 0
                finally:
                    os._exit(code)
            theirs.close()
            self.pids.append(pid)
            self._free.put(mine)
            self.live += 1

    def run(self, kind: Any, actor: Actor, keyed: list[Any]) -> list[Any] | None:
        """The batch's answers from a free decision process (waiting for one), or None when none is
        left. A process that stopped fails this batch (RuntimeError) and takes no other."""
        with self._lock:
            if self.live == 0:
                return None
        conn = self._free.get()
        try:
            conn.send((kind, actor, keyed))
            answers: list[Any] = conn.recv()
        except (EOFError, OSError) as exc:
            with self._lock:
                self.live -= 1
            conn.close()
            raise RuntimeError("a decision process stopped; its batch was not decided") from exc
        self._free.put(conn)
        return answers

    def close(self) -> None:
        """Stop the decision processes (each ends when its pipe closes) and reap them."""
        while True:
            try:
                self._free.get_nowait().close()
            except queue.Empty:
                break
        for pid in self.pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _serve(platform: Platform, conn: Connection, decide: Decide) -> None:
    # Ctrl-C reaches the whole process group: the server stops, and this process with its pipe
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # the server's pooled connections belong to the server: this process opens its own
    platform.engine.dispose(close=False)
    while True:
        try:
            kind, actor, keyed = conn.recv()
        except (EOFError, OSError):
            return
        answers = decide(platform, kind, actor, keyed)
        conn.send([_portable(a) for a in answers])


def _portable(answer: Any) -> Any:
    """An answer as it can cross the pipe: a driver's exception may not pickle, so a failure other
    than a refusal goes as a RuntimeError naming it."""
    if isinstance(answer, BaseException) and not isinstance(answer, DomainError):
        return RuntimeError(f"{type(answer).__name__}: {answer}")
    return answer
