"""No secret and no personal data in plain text at rest: a copy of the database holds no API key,
phone number or address, and replaying a creation's Idempotency-Key does not show the key again.
SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from bnpl.runtime import Platform
from bnpl.services.idempotency import SHOWN_ONCE
from bnpl.store.tables import metadata
from tests.api.conftest import ADMIN_KEY, Api

PHONE = "+86 138 1234 5678"
ADDRESS = "Room 9, 18 Plaintext Road, Hangzhou"
TELLTALES = ("12345678", "Plaintext Road")  # what a leak of the phone or the address would show


def every_row(platform: Platform) -> str:
    """The whole database as text, as a copy of it would read."""
    with platform.engine.connect() as conn:
        return "\n".join(repr(tuple(row)) for t in metadata.sorted_tables for row in conn.execute(select(t)))


def sqlite_bytes(platform: Platform) -> bytes:
    """The SQLite files themselves (database and write-ahead log), free pages included."""
    path = Path(platform.engine.url.database or "")
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def create_all(api: Api, idem: str) -> dict[str, Any]:
    return {
        "merchant": api.post(
            "/merchants", ADMIN_KEY, {"name": "Tea House", "mdr_bps": 100}, idem=f"{idem}-m"
        ),
        "customer": api.post(
            "/customers",
            ADMIN_KEY,
            {"name": "Shopper", "credit_limit": 1000_00, "phone": PHONE, "address": ADDRESS},
            idem=f"{idem}-c",
        ),
        "agent": api.post(
            "/admin/collections/agents", ADMIN_KEY, {"name": "Ann", "role": "agent"}, idem=f"{idem}-a"
        ),
    }


def key_works(api: Api, what: str, made: dict[str, Any]) -> bool:
    path = {
        "merchant": f"/merchants/{made['id']}",
        "customer": f"/customers/{made['id']}",
        "agent": "/collections/queue",
    }[what]
    return bool(api.get(path, made["api_key"]).status_code == 200)


def test_no_api_key_phone_or_address_is_stored_in_plain_text(api: Api, platform: Platform) -> None:
    made = create_all(api, "first")
    keys = [r.json()["api_key"] for r in made.values()]
    assert all(r.status_code == 201 for r in made.values()) and all(k and len(k) > 20 for k in keys)
    # a delivery address sent with a checkout is kept only as a keyed hash
    order = api.post(
        "/orders",
        keys[0],
        {
            "customer_id": made["customer"].json()["id"],
            "items": [{"sku": "tea", "category": "tea", "unit_price": 10_00, "quantity": 1}],
            "address_hash": "18 Plaintext Road",
        },
    )
    assert order.status_code == 201
    dump = every_row(platform)
    for secret in (*keys, *TELLTALES):
        assert secret not in dump
    if platform.engine.dialect.name == "sqlite":
        raw = sqlite_bytes(platform)
        for secret in (*keys, *TELLTALES):
            assert secret.encode() not in raw
    assert all(key_works(api, what, r.json()) for what, r in made.items())  # and yet every key works


def test_a_replay_answers_as_before_but_without_the_key(api: Api) -> None:
    first = create_all(api, "once")
    again = create_all(api, "once")
    for what, response in again.items():
        original = first[what].json()
        replay = response.json()
        assert response.status_code == 201 and response.headers["Idempotent-Replayed"] == "true", what
        assert first[what].headers["Idempotent-Replayed"] == "false"
        assert replay["api_key"] is None and replay["api_key_shown"] == SHOWN_ONCE, what
        assert {k: v for k, v in replay.items() if k not in ("api_key", "api_key_shown")} == {
            k: v for k, v in original.items() if k != "api_key"
        }, what
        assert key_works(api, what, original)  # the key shown the first time is the one that works
