"""The README's quick start, as written, in a fresh shell with nothing activated: a fresh copy of
the repository (its tracked files: no .venv, no var/), an environment without a virtualenv
(VIRTUAL_ENV unset, no venv's bin on PATH, no BNPL_ variable), each command of the README's block
in turn. Bounded in time: `make demo` installs, builds the demo book and must answer on /docs and
/console (then it is stopped; BNPL_PORT picks a free port); `make test` runs its lint in full and
collects the suite (PYTEST_ADDOPTS=--collect-only: the suite itself is the rest of this suite);
`make season` simulates a small season (SEASON_ARGS); activating the venv puts `bnpl` on PATH.
The install is skipped only if it fails for want of a network."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NO_NETWORK = re.compile(
    r"NewConnectionError|Temporary failure in name resolution|Network is unreachable|"
    r"No matching distribution found|Could not find a version that satisfies"
)


def quick_start() -> list[str]:
    """The commands of the README's quick start block (the one that starts with `make demo`),
    without their comments."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Quick start")
    block = re.search(r"```sh\n(.*?)```", readme[start:], re.S)
    assert block, "the quick start has no shell block"
    commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [c for c in commands if c]


def fresh_copy(to: Path) -> Path:
    """The repository's tracked files (as they are in the work tree), as a fresh clone has them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = to / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode)
    return to


def fresh_shell_env(**extra: str) -> dict[str, str]:
    """The environment of a new terminal: no virtualenv active, nothing of bnpl's set."""
    venvs = {Path(sys.prefix) / "bin", ROOT / ".venv" / "bin"}
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BNPL_", "PYTEST_", "VIRTUAL_ENV")) and k not in ("PYTHONPATH", "PYTHONHOME")
    }
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) not in venvs]
    path = [p for p in path if not (Path(p).parent / "pyvenv.cfg").exists()]  # any other venv's bin
    return {**env, "PATH": os.pathsep.join(path), **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def run(command: str, folder: Path, env: dict[str, str], timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True, timeout=timeout
    )


def serve_demo(command: str, folder: Path, env: dict[str, str], timeout: int = 600) -> str:
    """Start `make demo`, wait until /docs and /console answer, stop it; returns what it printed."""
    port = free_port()
    log = folder / "make-demo.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            ["bash", "-c", command],
            cwd=folder,
            env={**env, "BNPL_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: make, bnpl and uvicorn stop together
        )
        try:
            deadline = time.monotonic() + timeout
            base = f"http://127.0.0.1:{port}"
            while not answers(f"{base}/docs"):
                if server.poll() is not None or time.monotonic() > deadline:
                    printed = log.read_text()
                    if NO_NETWORK.search(printed):
                        pytest.skip("installing needs the network")
                    pytest.fail(f"`{command}` never answered on {base}/docs:\n{printed[-3000:]}")
                time.sleep(1)
            assert answers(f"{base}/console/login")
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                try:
                    server.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait()
    return log.read_text()


def test_the_quick_start_works_in_a_fresh_shell(tmp_path: Path) -> None:
    commands = quick_start()
    assert commands[0] == "make demo", commands  # the first thing a newcomer types
    folder = fresh_copy(tmp_path / "bnpl")
    env = fresh_shell_env()
    assert "VIRTUAL_ENV" not in env and run("command -v bnpl || true", folder, env, 10).stdout == ""
    try:
        for command in commands:
            if command == "make demo":
                printed = serve_demo(command, folder, env)
                assert "Demo book ready" in printed and (folder / "var" / "demo-keys.json").is_file()
            elif command == "make test":
                done = run(command, folder, {**env, "PYTEST_ADDOPTS": "--collect-only"}, 900)
                assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
                collected = re.search(r"(\d+) tests? collected", done.stdout)
                assert collected and int(collected.group(1)) > 500, done.stdout[-1000:]
            elif command == "make season":
                small = {**env, "SEASON_ARGS": "--customers 300 --days 30 --seed 7"}
                done = run(command, folder, small, 600)
                assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
                assert (folder / "var" / "season" / "report.html").is_file()
            elif command == ". .venv/bin/activate":
                done = run(f"{command} && command -v bnpl && bnpl --help", folder, env, 60)
                assert done.returncode == 0, done.stderr[-2000:]
                assert done.stdout.splitlines()[0] == str(folder / ".venv" / "bin" / "bnpl")
            else:
                pytest.fail(f"the quick start has a command this test does not know: {command!r}")
    finally:  # the venv is 1.3 GB: not kept among pytest's last temporary folders
        shutil.rmtree(folder / ".venv", ignore_errors=True)
