"""`bnpl data-keys` as an operator rotates the key that seals personal data, and a production
start without real keys, in real processes on a SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bnpl.store.crypto import DEV_DATA_KEYS

Run = Callable[..., subprocess.CompletedProcess[str]]


def runner(tmp_path: Path) -> Run:
    def run(*args: str, ok: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "bnpl", *args],
            capture_output=True,
            text=True,
            env={
                **os.environ,
                "BNPL_DATABASE_URL": f"sqlite:///{tmp_path / 'keys.db'}",
                "BNPL_BUSINESS_DATE": "2026-03-02",
                **env,
            },
            cwd=tmp_path,
            timeout=120,
        )
        assert (proc.returncode == 0) == ok, proc.stderr
        return proc

    return run


def test_rotating_the_data_key_from_the_command_line(tmp_path: Path) -> None:
    bnpl = runner(tmp_path)
    made = json.loads(
        bnpl("customer", "create", "Shopper", "--limit", "5000", "--phone", "+86 138 0000 7777").stdout
    )
    new = bnpl("data-keys", "new", "--id", "k2").stdout.strip()
    assert new.startswith("k2:") and len(new) > 40
    ring = {"BNPL_DATA_KEYS": f"{new},{DEV_DATA_KEYS}"}
    before = json.loads(bnpl("data-keys", "status", **ring).stdout)
    assert before["primary"] == "k2" and before["columns"]["customers.phone_enc"] == {"dev": 1}
    assert before["not_under_primary"] == 1
    done = bnpl("data-keys", "reencrypt", **ring)
    assert json.loads(done.stdout[done.stdout.index("{") :])["resealed"] == 1
    after = json.loads(bnpl("data-keys", "status", BNPL_DATA_KEYS=new).stdout)  # the old key may go
    assert after["columns"]["customers.phone_enc"] == {"k2": 1} and after["not_under_primary"] == 0
    found = bnpl("customer", "find", "--phone", "+8613800007777", BNPL_DATA_KEYS=new)
    assert json.loads(found.stdout) == [made["id"]]


def test_production_refuses_to_start_without_real_keys(tmp_path: Path) -> None:
    bnpl = runner(tmp_path)
    production = {
        "BNPL_ENVIRONMENT": "production",
        "BNPL_ADMIN_KEY": "a-real-admin-key-for-this-test",
        "BNPL_WEBHOOK_SECRET": "a-real-webhook-secret-for-this-test",
        "BNPL_MARKETPLACE_FEED_SECRET": "a-real-feed-secret-for-this-test",
    }
    refused = bnpl("db", "upgrade", ok=False, **production)
    assert "BNPL_DATA_KEYS and BNPL_LOOKUP_KEY must be set" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "keys.db").exists()
    keys = {
        "BNPL_DATA_KEYS": bnpl("data-keys", "new").stdout.strip(),
        "BNPL_LOOKUP_KEY": bnpl("data-keys", "new", "--lookup").stdout.strip(),
    }
    assert "schema up to date" in bnpl("db", "upgrade", **production, **keys).stdout
