"""API keys through their life over HTTP: a rotated-away or revoked key gets 401 at once (the
process's key cache forgets it), the new key is shown once and never stored, the holder or an
admin may do it and nobody else, agents are disabled and enabled, and every change is audited."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from bnpl.api.deps import KeyCache
from bnpl.runtime import Actor, Platform
from bnpl.store.tables import api_keys, audit_log, idempotency_keys
from tests.api.conftest import ADMIN_KEY, Api
from tests.api.test_api import is_problem


def _audit(platform: Platform, stream: str) -> list[tuple[str, Any]]:
    with platform.engine.connect() as conn:
        return [
            (r.action, r.after)
            for r in conn.execute(
                select(audit_log.c.action, audit_log.c.after)
                .where(audit_log.c.stream == stream)
                .order_by(audit_log.c.seq)
            )
        ]


def test_a_rotated_key_is_refused_at_once_and_the_new_one_shown_once(api: Api, platform: Platform) -> None:
    s = api.setup()
    merchant, customer = s["merchant"], s["customer"]
    old = merchant["api_key"]
    assert api.get(f"/merchants/{merchant['id']}", old).status_code == 200  # cached now
    rotated = api.post(f"/merchants/{merchant['id']}/key/rotate", ADMIN_KEY, idem="rot-1")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["api_key"]
    assert rotated.json()["revoked"] == 1 and new and new != old
    problem = is_problem(api.get(f"/merchants/{merchant['id']}", old), 401, "unauthenticated")
    assert "revoked" in problem["detail"]
    assert api.get(f"/merchants/{merchant['id']}", new).status_code == 200
    # a replay answers the same without the key, and the key is stored nowhere in clear
    replay = api.post(f"/merchants/{merchant['id']}/key/rotate", ADMIN_KEY, idem="rot-1")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["api_key"] is None and replay.json()["api_key_shown"]
    with platform.engine.connect() as conn:
        stored = [json.dumps(r) for r in conn.execute(select(idempotency_keys.c.response)).scalars()]
        hashes = list(conn.execute(select(api_keys.c.key_hash)).scalars())
    assert not any(new in text for text in stored) and new not in hashes
    # the holder rotates their own key with it; the customer too
    mine = api.post(f"/merchants/{merchant['id']}/key/rotate", new).json()["api_key"]
    is_problem(api.get("/orders", new), 401, "unauthenticated")
    assert api.get("/orders", mine).status_code == 200
    ckey = api.post(f"/customers/{customer['id']}/key/rotate", customer["api_key"]).json()["api_key"]
    is_problem(api.get(f"/customers/{customer['id']}", customer["api_key"]), 401, "unauthenticated")
    assert api.get(f"/customers/{customer['id']}", ckey).status_code == 200
    actions = [a for a, _ in _audit(platform, f"merchant:{merchant['id']}")]
    assert actions.count("api_key.rotated") == 2
    assert "api_key.rotated" in [a for a, _ in _audit(platform, f"customer:{customer['id']}")]
    assert all(new not in json.dumps(after) for _, after in _audit(platform, f"merchant:{merchant['id']}"))


def test_a_revoked_key_is_refused_until_a_rotation_issues_another(api: Api, platform: Platform) -> None:
    s = api.setup()
    customer = s["customer"]
    key = customer["api_key"]
    assert api.get(f"/customers/{customer['id']}/statement", key).status_code == 200
    revoked = api.post(f"/customers/{customer['id']}/key/revoke", ADMIN_KEY)
    assert revoked.status_code == 200 and revoked.json()["revoked"] == 1
    is_problem(api.get(f"/customers/{customer['id']}/statement", key), 401, "unauthenticated")
    assert api.post(f"/customers/{customer['id']}/key/revoke", ADMIN_KEY).json()["revoked"] == 0
    fresh = api.post(f"/customers/{customer['id']}/key/rotate", ADMIN_KEY).json()
    assert fresh["revoked"] == 0
    assert api.get(f"/customers/{customer['id']}/statement", fresh["api_key"]).status_code == 200
    assert [a for a, _ in _audit(platform, f"customer:{customer['id']}")][-3:] == [
        "api_key.revoked",
        "api_key.revoked",
        "api_key.rotated",
    ]


def test_only_the_holder_or_an_admin_changes_a_key(api: Api, platform: Platform) -> None:
    s = api.setup()
    m, other, c = s["merchant"], s["other"], s["customer"]
    agent = api.post("/admin/collections/agents", ADMIN_KEY, {"name": "Ann", "role": "agent"}).json()
    # another merchant or customer: not found; any other role: forbidden
    is_problem(api.post(f"/merchants/{m['id']}/key/revoke", other["api_key"]), 404, "not-found")
    for key in (c["api_key"], agent["api_key"]):
        is_problem(api.post(f"/merchants/{m['id']}/key/rotate", key), 403, "forbidden")
    is_problem(api.post(f"/customers/{c['id']}/key/revoke", m["api_key"]), 403, "forbidden")
    is_problem(
        api.post(f"/admin/collections/agents/{agent['id']}/key/revoke", c["api_key"]), 403, "forbidden"
    )
    for path in ("disable", "enable"):
        is_problem(
            api.post(f"/admin/collections/agents/{agent['id']}/{path}", agent["api_key"]), 403, "forbidden"
        )
    # unknown holders, and bad ids: 4xx problems
    is_problem(api.post("/merchants/999/key/rotate", ADMIN_KEY), 404, "not-found")
    is_problem(api.post("/customers/999/key/revoke", ADMIN_KEY), 404, "not-found")
    is_problem(api.post("/admin/collections/agents/999/disable", ADMIN_KEY), 404, "not-found")
    is_problem(api.post(f"/merchants/{2**64}/key/rotate", ADMIN_KEY), 422, "validation-error")
    is_problem(api.post("/merchants/0/key/revoke", ADMIN_KEY), 422, "validation-error")
    is_problem(
        api.client.post(f"/merchants/{m['id']}/key/rotate", headers={"Authorization": f"Bearer {ADMIN_KEY}"}),
        400,
        "idempotency-key-required",
    )
    # nothing changed by the refusals
    assert api.get(f"/merchants/{m['id']}", m["api_key"]).status_code == 200
    assert api.get("/collections/queue", agent["api_key"]).status_code == 200


def test_a_disabled_agent_is_refused_until_enabled(api: Api, platform: Platform) -> None:
    agent = api.post("/admin/collections/agents", ADMIN_KEY, {"name": "Ann", "role": "agent"}).json()
    field = api.post("/admin/collections/agents", ADMIN_KEY, {"name": "Fay", "role": "field_agent"}).json()
    assert api.get("/collections/queue", agent["api_key"]).status_code == 200
    disabled = api.post(f"/admin/collections/agents/{agent['id']}/disable", ADMIN_KEY).json()
    assert disabled["active"] is False and disabled["changed"] is True
    is_problem(api.get("/collections/queue", agent["api_key"]), 401, "unauthenticated")
    assert api.post(f"/admin/collections/agents/{agent['id']}/disable", ADMIN_KEY).json()["changed"] is False
    listed = {a["id"]: a["active"] for a in api.get("/admin/collections/agents", ADMIN_KEY).json()}
    assert listed == {agent["id"]: False, field["id"]: True}
    assert api.post(f"/admin/collections/agents/{agent['id']}/enable", ADMIN_KEY).json()["active"] is True
    assert api.get("/collections/queue", agent["api_key"]).status_code == 200
    # the agent's own key rotation works through the admin path too
    rotated = api.post(f"/admin/collections/agents/{field['id']}/key/rotate", field["api_key"]).json()
    assert rotated["role"] == "field_agent"
    is_problem(api.get("/collections/visits", field["api_key"]), 401, "unauthenticated")
    assert api.get("/collections/visits", rotated["api_key"]).status_code == 200
    assert [a for a, _ in _audit(platform, f"agent:{agent['id']}")] == ["agent.disabled", "agent.enabled"]
    assert [a for a, _ in _audit(platform, f"agent:{field['id']}")] == ["api_key.rotated"]
    assert api.get("/admin/audit/verify", ADMIN_KEY).json()["ok"] is True


def test_the_key_cache_forgets_and_never_keeps_a_look_up_older_than_a_revocation() -> None:
    now = [100.0]
    cache = KeyCache(ttl=30, clock=lambda: now[0])
    ann = Actor("agent", 1)
    began = cache.generation
    cache.put("a", ann, began)
    assert cache.get("a") == ann
    now[0] += 30  # another process's revocation shows here after the time to live
    assert cache.get("a") is None
    began = cache.generation  # a request looks the key up ...
    cache.forget_all()  # ... while a revocation commits here
    cache.put("a", ann, began)  # what it read may be stale: not remembered
    assert cache.get("a") is None
    cache.put("a", ann, cache.generation)
    assert cache.get("a") == ann
    cache.forget_all()
    assert cache.get("a") is None
