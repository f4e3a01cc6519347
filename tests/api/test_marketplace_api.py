"""The marketplace feed over HTTP: signed, all or nothing, resends counted once; consent routes."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from bnpl.runtime import Settings
from tests.api.conftest import ADMIN_KEY, Api

SECRET = Settings().marketplace_feed_secret


def sign(raw: bytes, secret: str = SECRET) -> dict[str, str]:
    return {
        "X-Bnpl-Signature": "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest(),
        "Content-Type": "application/json",
    }


def send(api: Api, records: list[Any], secret: str = SECRET) -> Any:
    raw = json.dumps({"records": records}).encode()
    return api.client.post("/marketplace/events", content=raw, headers=sign(raw, secret))


def order(cid: int, event_id: str, amount: int = 59_00) -> dict[str, Any]:
    return {
        "type": "order",
        "event_id": event_id,
        "customer_id": cid,
        "occurred_at": "2026-02-27T21:30:00+08:00",
        "category": "snacks",
        "channel": "short_video",
        "amount": amount,
        "payment_kind": "debit_card",
        "outcome": "completed",
    }


def consenting(api: Api) -> dict[str, Any]:
    c = api.post("/customers", ADMIN_KEY, {"name": "Shopper", "credit_limit": 1000_00}).json()
    body = {"purpose": "credit_assessment", "scope": ["order", "profile"], "notice_version": "2026.1"}
    r = api.post(f"/customers/{c['id']}/marketplace-consent", c["api_key"], body)
    assert r.status_code == 201, r.text
    return dict(c)


def test_the_feed_is_signed_and_a_resend_counts_once(api: Api) -> None:
    c = consenting(api)
    assert send(api, [order(c["id"], "e1")], secret="wrong").status_code == 401
    first = send(api, [order(c["id"], "e1"), order(c["id"], "e2")])
    assert first.status_code == 200 and first.json()["accepted"] == 2
    again = send(api, [order(c["id"], "e1")])
    assert again.json() == {"accepted": 0, "duplicate": 1, "by_type": {}, "customers": 1}
    changed = send(api, [order(c["id"], "e1", amount=1)])
    assert changed.status_code == 409 and changed.headers["content-type"] == "application/problem+json"
    assert changed.json()["code"] == "event-id-conflict"


def test_a_refused_record_is_named_by_index_and_nothing_is_written(api: Api) -> None:
    c = consenting(api)
    bad = send(api, [order(c["id"], "e1"), {**order(c["id"], "e2"), "channel": "tv"}, order(999, "e3")])
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    errors = bad.json()["errors"]
    assert [e["record"] for e in errors] == [1, 2]
    assert "channel" in errors[0]["reason"] and errors[1]["reason"] == "no consent"
    assert send(api, [order(c["id"], "e1")]).json()["accepted"] == 1  # e1 was not written before
    raw = b"{not json"
    assert api.client.post("/marketplace/events", content=raw, headers=sign(raw)).status_code == 400
    assert send(api, []).status_code == 422
    too_many = send(api, [order(c["id"], f"x{i}") for i in range(5001)])
    assert too_many.status_code == 422 and "5000" in too_many.json()["detail"]


def test_consent_routes(api: Api) -> None:
    c = consenting(api)
    other = api.post("/customers", ADMIN_KEY, {"name": "Other", "credit_limit": 0}).json()
    path = f"/customers/{c['id']}/marketplace-consent"
    assert api.get(path, other["api_key"]).status_code == 404
    bad = api.post(path, c["api_key"], {"purpose": "ads", "scope": ["order"], "notice_version": "1"})
    assert bad.status_code == 422
    gone = api.client.delete(path, headers={"Authorization": f"Bearer {c['api_key']}"})
    assert gone.status_code == 200 and gone.json()["changed"] is True
    assert api.post(f"{path}/withdraw", ADMIN_KEY).json()["changed"] is False
    history = api.get(path, ADMIN_KEY).json()
    assert history["status"] == "withdrawn" and [e["action"] for e in history["events"]] == [
        "grant",
        "withdraw",
    ]
    refused = send(api, [order(c["id"], "e9")])
    assert refused.status_code == 422 and refused.json()["errors"][0]["reason"] == "no consent"
