"""Benchmark: API writes on SQLite while the console is flooded with sign-ins.

Usage: python bench/console_signin.py [--seconds 15] [--rate 18] [--flooders 4]

A fresh SQLite database, one member of staff, and the application on 127.0.0.1 (uvicorn, in this
process). A writer opens a customer through the API (``POST /customers``, a write transaction)
every 50 ms and times each request, first alone for --seconds, then for --seconds more while
--flooders threads post sign-ins for usernames nobody has (each checked against the dummy hash, as
in credential stuffing) at --rate attempts a second in all. The sign-in throttles are raised out
of the way (through the environment) so every attempt reaches the password check: the point is
what a 90 ms scrypt does to the API's writes, not what the throttles turn away. Before the sign-in
hashed outside its transaction, SQLite's one write lock was held through every hash.

The last line of stdout is one JSON object:
  quiet, flood          the writer's latencies: n, p50_ms, p90_ms, p99_ms, max_ms
  sign_ins_per_s        the attempts a second the flood achieved
  answers               the sign-in answers by HTTP status
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bnpl.app import create_app
from bnpl.runtime import ADMIN, Settings
from bnpl.services.boot import open_platform
from bnpl.services.staff import create_staff
from bnpl.store.db import make_engine
from bnpl.store.migrate import upgrade

PASSWORD = "bench-password-long"
WRITE_EVERY = 0.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rate", type=float, default=18, help="sign-in attempts a second, in all")
    parser.add_argument("--flooders", type=int, default=4)
    args = parser.parse_args()
    print(json.dumps(run(args.seconds, args.rate, args.flooders)))


def run(seconds: float, rate: float, flooders: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bnpl-signin-bench-"))
    url = f"sqlite:///{work / 'bnpl.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    # every attempt reaches the password check (an older build ignores these)
    os.environ["BNPL_SIGN_INS_PER_MINUTE"] = os.environ["BNPL_SIGN_INS_PER_MINUTE_PER_SOURCE"] = "1000000"
    platform = open_platform(Settings.from_env(database_url=url, rules_path=None))
    platform.run(ADMIN, lambda ctx: create_staff(ctx, "bench.staff", PASSWORD, "risk_analyst"))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    try:
        quiet = _writes(base, seconds, "quiet")
        stop = threading.Event()
        answers: Counter[int] = Counter()
        floods = [
            threading.Thread(target=_flood, args=(base, rate / flooders, stop, answers), daemon=True)
            for _ in range(flooders)
        ]
        for f in floods:
            f.start()
        started = time.perf_counter()
        flood = _writes(base, seconds, "flood")
        stop.set()
        for f in floods:
            f.join(10)
        elapsed = time.perf_counter() - started
    finally:
        server.should_exit = True
        thread.join(5)
        platform.dispose()
    return {
        "quiet": _summary(quiet),
        "flood": _summary(flood),
        "sign_ins_per_s": round(sum(answers.values()) / elapsed, 1),
        "answers": {str(k): v for k, v in sorted(answers.items())},
    }


def _writes(base: str, seconds: float, tag: str) -> list[float]:
    """Open a customer every WRITE_EVERY seconds for ``seconds``; each request's milliseconds."""
    took: list[float] = []
    headers = {"Authorization": "Bearer dev-admin-key"}
    with httpx.Client(base_url=base, timeout=60, headers=headers) as client:
        end = time.perf_counter() + seconds
        n = 0
        while time.perf_counter() < end:
            n += 1
            started = time.perf_counter()
            answer = client.post(
                "/customers",
                json={"name": f"Bench Shopper {tag} {n}", "credit_limit": 1000_00},
                headers={"Idempotency-Key": f"{tag}-{n}-{time.time_ns()}"},
            )
            took.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 201:
                raise SystemExit(f"the API write failed: HTTP {answer.status_code} {answer.text[:200]}")
            time.sleep(max(0.0, WRITE_EVERY - (time.perf_counter() - started)))
    return took


def _flood(base: str, rate: float, stop: threading.Event, answers: Counter[int]) -> None:
    with httpx.Client(base_url=base, timeout=60, follow_redirects=False) as client:
        page = client.get("/console/login")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        n = 0
        while not stop.is_set():
            n += 1
            started = time.perf_counter()
            answer = client.post(
                "/console/login",
                data={"username": f"nobody.{threading.get_ident()}.{n}", "password": "guess", "csrf": csrf},
            )
            answers[answer.status_code] += 1
            stop.wait(max(0.0, 1 / rate - (time.perf_counter() - started)))


def _summary(ms: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(ms, n=100)
    return {
        "n": len(ms),
        "p50_ms": round(cuts[49], 1),
        "p90_ms": round(cuts[89], 1),
        "p99_ms": round(cuts[98], 1),
        "max_ms": round(max(ms), 1),
    }


def _free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


if __name__ == "__main__":
    main()
