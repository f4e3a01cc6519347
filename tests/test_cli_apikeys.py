"""`bnpl key rotate|revoke` and `bnpl collections agent disable|enable` as an operator runs them:
the new key printed once, the old one refused by the services, one-line errors, non-zero exits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bnpl.runtime import Platform, Settings
from bnpl.services import apikeys
from bnpl.services.boot import open_platform
from tests.test_cli import data


def _holder(tmp_path: Path, raw: str) -> Any:
    """Whom the key on the CLI's database belongs to now (None: refused)."""
    p: Platform = open_platform(Settings(database_url=f"sqlite:///{tmp_path / 'cli.db'}"))
    try:
        with p.read() as ctx:
            return apikeys.actor_for_key(ctx, raw)
    finally:
        p.dispose()


def test_keys_rotated_revoked_and_agents_disabled_from_the_command_line(bnpl: Any, tmp_path: Path) -> None:
    merchant = data(bnpl("merchant", "create", "Tea House", "--mdr-bps", "80"))
    agent = data(bnpl("collections", "agent", "create", "Ann"))
    rotated = data(bnpl("key", "rotate", "--merchant", str(merchant["id"])))
    assert rotated["revoked"] == 1 and rotated["api_key"].startswith("mk_")
    assert _holder(tmp_path, merchant["api_key"]) is None
    assert _holder(tmp_path, rotated["api_key"]).subject_id == merchant["id"]
    assert data(bnpl("key", "revoke", "--merchant", str(merchant["id"])))["revoked"] == 1
    assert _holder(tmp_path, rotated["api_key"]) is None

    assert data(bnpl("collections", "agent", "disable", str(agent["id"])))["active"] is False
    assert _holder(tmp_path, agent["api_key"]) is None
    assert data(bnpl("collections", "agent", "enable", str(agent["id"])))["active"] is True
    assert _holder(tmp_path, agent["api_key"]).role == "agent"

    for args, code, message in (
        (("key", "rotate"), 2, "name exactly one holder"),
        (("key", "revoke", "--merchant", "1", "--customer", "1"), 2, "name exactly one holder"),
        (("key", "rotate", "--customer", "42"), 1, "customer 42 not found"),
        (("collections", "agent", "disable", "42"), 1, "agent 42 not found"),
    ):
        proc = bnpl(*args, ok=False)
        assert proc.returncode == code, proc.stderr
        assert proc.stderr.strip() == f"error: {message}" or message in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    for args in (("key", "rotate", "--agent", "0"), ("collections", "agent", "enable", "x")):
        proc = bnpl(*args, ok=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
