"""Serve the API from one or more processes.

Several processes share one port through SO_REUSEPORT, and every socket sets TCP_NODELAY: with
uvicorn's own ``--workers`` mode small responses were held back by Nagle's algorithm against the
client's delayed ACK, adding about 40 ms to every request (measured with bench/authorize.py).
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import signal
import socket
import sys
from typing import Any

import uvicorn


def listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _quiet_gc() -> None:
    """Fewer, later garbage collections: a full collection in the middle of a request is the
    largest source of tail latency once the app is loaded (the loaded modules are frozen out)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def _config(app: Any) -> uvicorn.Config:
    """uvicorn with uvloop and httptools when installed (``auto``; measured faster, see
    docs/performance.md); BNPL_SERVER_LOOP=asyncio and BNPL_SERVER_HTTP=h11 choose the pure-Python
    ones."""
    loop = os.environ.get("BNPL_SERVER_LOOP", "auto")
    http = os.environ.get("BNPL_SERVER_HTTP", "auto")
    return uvicorn.Config(app, log_level="warning", access_log=False, loop=loop, http=http)


def _worker(app: str, host: str, port: int) -> None:
    config = _config(app)
    config.load()
    _quiet_gc()
    uvicorn.Server(config).run(sockets=[listen(host, port)])


def serve(app: Any, host: str, port: int, workers: int = 1) -> None:
    """Run ``app`` (an ASGI app, or an import string when ``workers`` > 1) until interrupted."""
    if workers <= 1:
        config = _config(app)
        config.load()
        _quiet_gc()
        uvicorn.Server(config).run(sockets=[listen(host, port)])
        return
    if not isinstance(app, str):
        raise ValueError("several workers need the app as an import string")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(app, host, port), daemon=True) for _ in range(workers)]
    # a SIGTERM to the parent must stop the workers too: an orphan would keep serving old code on
    # the shared port next to a restarted server
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(10)
