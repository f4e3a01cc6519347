"""The README's two tours, run as written: the command-line tour on a database of its own, in a fresh
folder; the API tour against a live server on the demo book (its keys, a free port on 127.0.0.1).
Every command must exit 0; an HTTP error is a failure (curl is made to fail on one)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bnpl.app import create_app
from tests.demo.conftest import DemoBook
from tests.server import live_server

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CLI_START = "export BNPL_DATABASE_URL=sqlite:///var/tour.db"
API_START = "API=http://127.0.0.1:8000"


def block(starting: str) -> str:
    """The README's fenced shell block whose first line starts so."""
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    found = [b for b in blocks if b.startswith(starting)]
    assert len(found) == 1, f"the README has no single tour starting {starting!r}"
    return found[0]


def run(script: str, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # every command must succeed: `a && b` lines are split so that set -e sees a failing `a` too
    strict = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n' + script
    return subprocess.run(
        ["bash", "-c", strict], cwd=folder, env=env, capture_output=True, text=True, timeout=300
    )


def tour_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BNPL_")}
    return {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", **extra}


def test_the_cli_tour_runs_as_written(tmp_path: Path) -> None:
    script = block(CLI_START).replace(" && ", "\n")
    done = run(script, tmp_path, tour_env())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ok" in done.stdout.lower()


@pytest.mark.skipif(
    not all(shutil.which(t) for t in ("curl", "jq", "openssl")), reason="needs curl, jq, openssl"
)
def test_the_api_tour_runs_as_written_on_the_demo_book(demo_book: DemoBook, tmp_path: Path) -> None:
    database = demo_book.copy(tmp_path / "var")
    platform = demo_book.platform(database=database)
    script = block(API_START)
    with live_server(create_app(platform)) as url:
        script = script.replace(API_START, f"API={url}", 1)
        script = script.replace("ADMIN=dev-admin-key", f"ADMIN={demo_book.keys['admin']}", 1)
        done = run(script, tmp_path, tour_env())
    platform.dispose()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert '"ok": true' in done.stdout  # the ledger check at the end
