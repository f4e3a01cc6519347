"""Schemathesis against the API: cases generated from ``/openapi.json`` are sent to a real uvicorn
on 127.0.0.1 with the admin's, a merchant's, a customer's and a collections agent's key in turn,
and every answer must be no server error and match its documented schema (problem+json included).

Phases: the schema's examples, fuzzing (a few cases per operation), and the stateful phase, which
follows the OpenAPI links (``api/links.py``) from what one call created to the next call on it.
The seed is fixed and generation deterministic, so a run is the same run every time.

``tests/api/test_fuzz.py`` runs it in the suite;
``python -m tests.api.fuzz [examples-per-operation] [--no-stateful]`` runs it alone and prints the
figures (cases, answers by status, each failure with its operation, time).
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.engine import Status, events, from_schema

from bnpl.app import create_app
from bnpl.runtime import FixedClock, Platform, Settings
from bnpl.services.boot import open_platform
from bnpl.store.db import make_engine
from bnpl.store.migrate import upgrade
from tests.api.conftest import ADMIN_KEY, Api
from tests.conftest import START
from tests.server import live_server

ROLES = ("admin", "merchant", "customer", "agent")
KEY_LIFECYCLE_TAG = "keys"  # rotate, revoke, disable: fuzzed after everything else
KEY_LIFECYCLE_ROLES = ("merchant", "customer", "agent", "admin")
CHECKS = ("not_a_server_error", "response_schema_conformance")
SEED = 20261204
# past SQLite's and PostgreSQL's 64-bit integers, and past what the idempotency fingerprint encodes
HOSTILE_INTEGERS = [2**63 - 1, 2**63, 2**64, -(2**63) - 1]
# NUL, a right-to-left override, a character outside the BMP, a long one
HOSTILE_STRINGS = ["nul\x00", "\u202e", "\U0001f600", "x" * 300]
# a lone surrogate: JSON can spell it ("\ud800"), UTF-8 cannot encode it (and schemathesis' own
# schema checks cannot hold it in a dictionary), so a hook puts it into bodies instead
SURROGATE = "a\ud800b"


class TenInTheMorning(FixedClock):
    """The business date the test sets, always at 10:00 in Shanghai: the contact policy's allowed
    hours then answer the same way whenever the suite runs."""

    def now(self) -> datetime:
        return datetime.combine(self.day, clock_time(2), tzinfo=UTC)


@dataclass
class Report:
    cases: Counter[str] = field(default_factory=Counter)  # by role
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # "role check METHOD /path -> status: detail"
    errors: list[str] = field(default_factory=list)  # the engine's own (schema, network)
    seconds: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def summary(self) -> str:
        by_role = ", ".join(f"{role} {n}" for role, n in self.cases.items())
        lines = [
            f"schemathesis: {sum(self.cases.values())} cases ({by_role})"
            f" in {self.seconds:.1f} s; 5xx answers: {self.server_errors};"
            f" failed checks: {len(self.failures)}; engine errors: {len(self.errors)}",
            "statuses: " + ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items())),
        ]
        return "\n".join(lines + self.failures + self.errors)


def make_world(api: Api, platform: Platform) -> dict[str, str]:
    """Something of everything, so that ids the fuzzer tries find objects: merchants, a customer
    with an authorized order and an overdue one (a collections case), a return, a repayment, and a
    collections team. Returns each role's API key."""
    s = api.setup(limit=2000_00)
    mkey, ckey, cid = s["merchant"]["api_key"], s["customer"]["api_key"], s["customer"]["id"]
    api.checkout(s, amount=50_00)
    order = api.checkout(s, amount=600_00, qty=2, plan="m3").json()
    for step in ("capture", "deliver"):
        api.post(f"/orders/{order['id']}/{step}", mkey)
    api.post(f"/orders/{order['id']}/returns", ckey, {"items": [{"sku": "tea-1", "quantity": 1}]})
    api.post(f"/customers/{cid}/repayments", ckey, {"amount": 10_00})
    team = {
        role: api.post("/admin/collections/agents", ADMIN_KEY, {"name": name, "role": role}).json()
        for name, role in (
            ("Ann", "agent"),
            ("Sam", "supervisor"),
            ("Fay", "field_agent"),
            ("Fox", "field_agent"),
        )
    }
    due = api.get(f"/orders/{order['id']}", ckey).json()["schedule"][0]["due_date"]
    platform.clock.day = datetime.fromisoformat(due).date() + timedelta(days=40)  # type: ignore[attr-defined]
    assert api.post("/admin/eod", ADMIN_KEY).status_code == 200
    return {"admin": ADMIN_KEY, "merchant": mkey, "customer": ckey, "agent": team["agent"]["api_key"]}


def config(key: str, examples: int, stateful: bool) -> Any:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "deterministic": True,
                "max-examples": examples,
                "database": "none",
                # besides what the schema suggests, now and then a value known to have hurt
                "dictionaries": {
                    "integer": {"dictionary": "hostile-integers", "probability": 0.3},
                    "string": {"dictionary": "hostile-strings", "probability": 0.3},
                },
            },
            "dictionaries": {
                "hostile-integers": {"values": HOSTILE_INTEGERS},
                "hostile-strings": {"values": HOSTILE_STRINGS},
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": False},  # thousands of cases per run: too many for the suite
                "fuzzing": {"enabled": True},
                # a scenario is a chain of calls along the links; a few chains per role
                "stateful": {
                    "enabled": stateful,
                    "max-steps": 8,
                    "generation": {"max-examples": 4 * examples},
                },
            },
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "headers": {"Authorization": f"Bearer {key}"},
        }
    )


def fresh_idempotency_keys(role: str) -> Any:
    """A generated Idempotency-Key repeats ("0", "00"...), so nearly every POST would replay an
    earlier answer or clash with it: each request gets a key of its own instead."""
    fresh = itertools.count()

    def map_headers(_: Any, headers: dict[str, Any] | None) -> dict[str, Any] | None:
        if headers and "Idempotency-Key" in headers:
            headers["Idempotency-Key"] = f"fuzz-{role}-{next(fresh)}"
        return headers

    return map_headers


def _with_surrogate(value: Any) -> Any:
    """``value`` with its first string (depth first) replaced by ``SURROGATE``, or None."""
    if isinstance(value, str):
        return SURROGATE
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        poisoned = _with_surrogate(item)
        if poisoned is not None:
            copy = dict(value) if isinstance(value, dict) else list(value)
            copy[key] = poisoned
            return copy
    return None


def flatmap_body(_: Any, body: Any) -> Any:
    """Now and then (as hypothesis chooses) the body with a lone surrogate in one of its strings."""
    poisoned = _with_surrogate(body)
    return st.just(body) if poisoned is None else st.sampled_from([body, body, body, poisoned])


def fuzz(base: str, keys: dict[str, str], examples: int = 2, stateful: bool = True) -> Report:
    report = Report()
    started = time.monotonic()
    for role in ROLES:
        _phase(report, base, role, keys[role], config(keys[role], examples, stateful), keys_too=False)
    # rotating or revoking a key or disabling an agent stops the key that the later cases would
    # send (every answer a 401): those operations come last, each role's own last of all
    for role in KEY_LIFECYCLE_ROLES:
        _phase(report, base, role, keys[role], config(keys[role], examples, stateful=False), keys_too=True)
    report.seconds = time.monotonic() - started
    return report


def _phase(report: Report, base: str, role: str, key: str, settings: Any, keys_too: bool) -> None:
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", config=settings)
    schema = schema.include(tag=KEY_LIFECYCLE_TAG) if keys_too else schema.exclude(tag=KEY_LIFECYCLE_TAG)
    schema.hook(fresh_idempotency_keys(f"{role}-keys" if keys_too else role))
    schema.hook(flatmap_body)
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            record(report, role, event.recorder)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            detail = str(getattr(event, "value", ""))[:500]
            report.errors.append(
                f"{role} engine error: {getattr(event, 'label', '')} {event.info.title}: {detail}"
            )


def record(report: Report, role: str, recorder: Any) -> None:
    report.cases[role] += len(recorder.cases)
    for interaction in recorder.interactions.values():
        if interaction.response is not None:
            report.statuses[interaction.response.status_code] += 1
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status != Status.FAILURE:
                continue
            case = recorder.cases[case_id].value
            interaction = recorder.interactions.get(case_id)
            response = interaction.response if interaction else None
            status = response.status_code if response is not None else "-"
            body = response.content[:300].decode("utf-8", "replace") if response is not None else ""
            report.failures.append(
                f"{role} {check.name} {case.method} {case.formatted_path} -> {status}: {body}"
            )


def run(examples: int = 2, stateful: bool = True) -> Report:
    """A fresh SQLite platform with the world above, served on 127.0.0.1, fuzzed."""
    path = Path(tempfile.mkdtemp(prefix="bnpl-fuzz-")) / "bnpl.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    platform = open_platform(Settings(database_url=url), clock=TenInTheMorning(START))
    app = create_app(platform)
    with TestClient(app) as client:
        keys = make_world(Api(client), platform)
    try:
        with live_server(app) as base:
            return fuzz(base, keys, examples, stateful)
    finally:
        platform.dispose()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    print(run(int(args[0]) if args else 2, stateful="--no-stateful" not in sys.argv).summary())
