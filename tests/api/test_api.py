"""The HTTP API end to end: the lifecycle, idempotency, roles, and problem+json for bad input."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from tests.api.conftest import ADMIN_KEY, Api


def is_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["type"] == f"urn:bnpl:problem:{code}" and body["detail"]
    return body


def test_the_whole_life_of_an_order_over_http(api: Api) -> None:
    s = api.setup()
    mkey, ckey, cid = s["merchant"]["api_key"], s["customer"]["api_key"], s["customer"]["id"]
    order = api.checkout(s, amount=120_00, plan="m3", channel="live_stream", stream_id="live-1").json()
    assert order["status"] == "authorized" and order["decision"]["reasons"][0]["code"] == "WITHIN_LIMIT"
    oid = order["id"]
    assert api.post(f"/orders/{oid}/capture", mkey).json()["status"] == "captured"
    assert api.post(f"/orders/{oid}/deliver", ckey).json()["status"] == "delivered"
    ret = api.post(f"/orders/{oid}/returns", ckey, {"items": [{"sku": "tea-1", "quantity": 1}]})
    assert ret.status_code == 201
    assert api.post(f"/returns/{ret.json()['id']}/reject", mkey).json()["status"] == "rejected"
    statement = api.get(f"/customers/{cid}/statement", ckey).json()
    assert statement["total_owed"] == 120_00 + 2_76 and len(statement["upcoming"]) == 3
    paid = api.post(f"/customers/{cid}/repayments", ckey, {"amount": 50_00})
    assert paid.status_code == 201 and paid.json()["to_credit_balance"] == 0
    quote = api.get(f"/orders/{oid}/payoff-quote", ckey).json()
    payoff = api.post(f"/orders/{oid}/payoff", ckey, {"amount": quote["amount"]})
    assert payoff.status_code == 201
    customer = api.get(f"/customers/{cid}", ckey).json()
    assert customer["account"]["outstanding"] == 0 and customer["account"]["available"] == 1000_00
    history = api.get(f"/customers/{cid}/statement", ckey).json()["history"]
    assert {h["kind"] for h in history} >= {"capture", "repayment", "fee_waiver"}
    check = api.get("/admin/ledger/check", ADMIN_KEY).json()
    assert check["ok"], check["problems"]
    assert api.get("/admin/audit/verify", ADMIN_KEY).json()["ok"]


def test_replayed_key_returns_the_first_answer_and_a_changed_body_is_refused(api: Api) -> None:
    s = api.setup()
    body = {
        "customer_id": s["customer"]["id"],
        "items": [{"sku": "tea-1", "category": "tea", "unit_price": 10_00, "quantity": 1}],
    }
    first = api.post("/orders", s["merchant"]["api_key"], body, idem="checkout-1")
    again = api.post("/orders", s["merchant"]["api_key"], body, idem="checkout-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    changed = api.post("/orders", s["merchant"]["api_key"], {**body, "plan": "m3"}, idem="checkout-1")
    is_problem(changed, 409, "idempotency-key-reused")
    assert len(api.get("/orders", s["merchant"]["api_key"]).json()) == 1
    customer = api.get(f"/customers/{s['customer']['id']}", ADMIN_KEY).json()
    assert customer["account"]["holds"] == 10_00


def test_missing_idempotency_key_is_refused(api: Api) -> None:
    s = api.setup()
    r = api.client.post("/orders", json={}, headers={"Authorization": f"Bearer {s['merchant']['api_key']}"})
    # body validation runs first; with a valid body the key is demanded
    assert r.status_code in (400, 422)
    body = {
        "customer_id": s["customer"]["id"],
        "items": [{"sku": "x", "category": "tea", "unit_price": 1, "quantity": 1}],
    }
    r = api.client.post("/orders", json=body, headers={"Authorization": f"Bearer {s['merchant']['api_key']}"})
    is_problem(r, 400, "idempotency-key-required")


@pytest.mark.parametrize(
    ("item", "code"),
    [
        ({"unit_price": -5}, "validation-error"),
        ({"unit_price": 0}, "validation-error"),
        ({"unit_price": 12.5}, "validation-error"),
        ({"unit_price": "100"}, "validation-error"),
        ({"quantity": 0}, "validation-error"),
        ({"category": "gold"}, "invalid-input"),
    ],
)
def test_bad_checkout_input_is_a_clear_4xx_and_changes_nothing(
    api: Api, item: dict[str, Any], code: str
) -> None:
    s = api.setup()
    body = {
        "customer_id": s["customer"]["id"],
        "items": [{"sku": "t", "category": "tea", "unit_price": 10_00, "quantity": 1, **item}],
    }
    is_problem(api.post("/orders", s["merchant"]["api_key"], body), 422, code)
    assert api.get("/orders", ADMIN_KEY).json() == []


def test_more_bad_input(api: Api) -> None:
    s = api.setup()
    mkey, ckey, cid = s["merchant"]["api_key"], s["customer"]["api_key"], s["customer"]["id"]
    is_problem(api.checkout(s, currency="USD"), 422, "currency-mismatch")
    is_problem(api.checkout(s, plan="m7"), 422, "validation-error")
    is_problem(api.post("/orders", ckey, {"customer_id": cid, "items": []}), 422, "validation-error")
    only_merchants = {
        "customer_id": cid,
        "items": [{"sku": "t", "category": "tea", "unit_price": 1, "quantity": 1}],
    }
    is_problem(api.post("/orders", ckey, only_merchants), 403, "forbidden")
    is_problem(api.get(f"/orders/{2**63}", ADMIN_KEY), 422, "validation-error")
    is_problem(api.get(f"/customers/{cid}/statement", s["merchant"]["api_key"]), 404, "not-found")
    unknown = {"customer_id": 999, "items": [{"sku": "t", "category": "tea", "unit_price": 1, "quantity": 1}]}
    is_problem(api.post("/orders", mkey, unknown), 404, "not-found")
    is_problem(api.post("/orders/999/capture", mkey), 404, "not-found")
    is_problem(api.post(f"/customers/{cid}/repayments", ckey, {"amount": 0}), 422, "validation-error")
    is_problem(
        api.post(f"/customers/{cid}/repayments", ckey, {"amount": 10, "currency": "EUR"}),
        422,
        "currency-mismatch",
    )
    oid = api.checkout(s, amount=10_00, qty=2).json()["id"]
    is_problem(api.post(f"/orders/{oid}/deliver", ckey), 409, "invalid-state")
    api.post(f"/orders/{oid}/capture", mkey)
    is_problem(api.post(f"/orders/{oid}/capture", mkey), 409, "invalid-state")
    is_problem(
        api.post(f"/orders/{oid}/returns", ckey, {"items": [{"sku": "tea-1", "quantity": 3}]}),
        422,
        "return-exceeds-purchase",
    )
    malformed = api.client.post(
        f"/customers/{cid}/repayments",
        content=b"{amount: 1",
        headers={
            "Authorization": f"Bearer {ckey}",
            "Idempotency-Key": "m1",
            "Content-Type": "application/json",
        },
    )
    is_problem(malformed, 400, "malformed-json")
    is_problem(api.get("/orders/1", "wrong-key"), 401, "unauthenticated")
    is_problem(api.client.get("/orders/1"), 401, "unauthenticated")
    check = api.get("/admin/ledger/check", ADMIN_KEY).json()
    assert check["ok"] and check["entries"] == 1  # only the one capture moved money


def test_merchants_and_customers_see_only_their_own(api: Api) -> None:
    s = api.setup()
    oid = api.checkout(s).json()["id"]
    other_key = s["other"]["api_key"]
    is_problem(api.get(f"/orders/{oid}", other_key), 404, "not-found")
    is_problem(api.post(f"/orders/{oid}/capture", other_key), 404, "not-found")
    assert api.get("/orders", other_key).json() == []
    is_problem(api.get(f"/merchants/{s['merchant']['id']}", other_key), 404, "not-found")
    stranger = api.post("/customers", ADMIN_KEY, {"name": "Stranger", "credit_limit": 100}).json()
    is_problem(api.get(f"/orders/{oid}", stranger["api_key"]), 404, "not-found")
    is_problem(api.get(f"/customers/{s['customer']['id']}", stranger["api_key"]), 404, "not-found")
    # a customer may not ship, and a merchant may not create customers
    is_problem(api.post(f"/orders/{oid}/capture", s["customer"]["api_key"]), 403, "forbidden")
    is_problem(
        api.post("/customers", s["merchant"]["api_key"], {"name": "x", "credit_limit": 1}), 403, "forbidden"
    )
    assert api.get(f"/orders/{oid}", s["customer"]["api_key"]).status_code == 200


def sign(secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def test_payment_callback_verifies_its_signature_and_counts_once(api: Api) -> None:
    s = api.setup()
    oid = api.checkout(s, amount=40_00).json()["id"]
    api.post(f"/orders/{oid}/capture", s["merchant"]["api_key"])
    raw = json.dumps(
        {"payment_id": "pay-1", "customer_id": s["customer"]["id"], "amount": 40_00, "status": "succeeded"}
    ).encode()
    secret = "dev-webhook-secret"
    bad = api.client.post("/payments/callback", content=raw, headers={"X-Bnpl-Signature": sign("wrong", raw)})
    is_problem(bad, 401, "bad-signature")
    odd = api.client.post(
        "/payments/callback", content=raw, headers={"X-Bnpl-Signature": "sha256=\u00e9".encode()}
    )
    is_problem(odd, 401, "bad-signature")
    headers = {"X-Bnpl-Signature": sign(secret, raw), "Content-Type": "application/json"}
    first = api.client.post("/payments/callback", content=raw, headers=headers)
    again = api.client.post("/payments/callback", content=raw, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json()["payment"]["replayed"] is True
    account = api.get(f"/customers/{s['customer']['id']}", ADMIN_KEY).json()["account"]
    assert account["outstanding"] == 0 and account["credit_balance"] == 0


def test_plans_disclose_fee_and_apr(api: Api) -> None:
    plans = {p["code"]: p for p in api.client.get("/plans?amount=120000").json()}
    assert plans["pay_after_trial"]["fee"] == 0 and plans["pay_after_trial"]["apr"] == "0"
    assert plans["m12"]["fee"] == 9000 and 0 < float(plans["m12"]["apr"]) < 0.24
    assert sum(x["amount"] for x in plans["m3"]["example"]) == 120000 + plans["m3"]["fee"]
    assert api.client.get("/docs").status_code == 200
    spec = api.client.get("/openapi.json").json()
    create = spec["paths"]["/orders"]["post"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in create["parameters"])
    assert set(create["responses"]["409"]["content"]) == {"application/problem+json"}
    assert "HTTPValidationError" not in json.dumps(spec)


def test_a_refusal_is_remembered_under_its_key(api: Api) -> None:
    s = api.setup()
    mkey = s["merchant"]["api_key"]
    oid = api.checkout(s).json()["id"]
    early = api.post(f"/orders/{oid}/deliver", mkey, idem="deliver-1")
    is_problem(early, 409, "invalid-state")
    api.post(f"/orders/{oid}/capture", mkey)
    replay = api.post(f"/orders/{oid}/deliver", mkey, idem="deliver-1")
    is_problem(replay, 409, "invalid-state")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert api.post(f"/orders/{oid}/deliver", mkey, idem="deliver-2").json()["status"] == "delivered"


def test_end_of_day_over_http_settles_once_and_replays_its_summary(api: Api, platform: Any) -> None:
    s = api.setup()
    oid = api.checkout(s, amount=50_00).json()["id"]
    api.post(f"/orders/{oid}/capture", s["merchant"]["api_key"])
    platform.clock.advance(3)
    first = api.post("/admin/eod", ADMIN_KEY, idem="eod-1")
    assert first.status_code == 200 and first.json()["merchants_settled"] == 1
    again = api.post("/admin/eod", ADMIN_KEY, idem="eod-1")
    assert again.json() == first.json()
    fresh = api.post("/admin/eod", ADMIN_KEY, idem="eod-2").json()
    assert fresh["merchants_settled"] == 0  # the day already ran: nothing more to do
    is_problem(
        api.client.post("/admin/eod", headers={"Authorization": f"Bearer {ADMIN_KEY}"}),
        400,
        "idempotency-key-required",
    )


def test_decisions_are_explained_to_the_customer_and_in_full_to_staff(api: Api) -> None:
    s = api.setup(limit=100_00)
    order = api.checkout(s, amount=500_00).json()
    did = order["decision"]["id"]
    mine = api.get(f"/decisions/{did}", s["customer"]["api_key"]).json()
    assert mine["outcome"] == "decline" and mine["reasons"][0]["code"] == "INSUFFICIENT_CREDIT"
    assert "rule_hits" not in mine and "signals" not in mine
    staff = api.get(f"/decisions/{did}", ADMIN_KEY).json()
    assert staff["signals"]["amount"] == 500_00 and staff["rule_hits"] == []
    is_problem(api.get(f"/decisions/{did}", s["merchant"]["api_key"]), 404, "not-found")
    assert api.get("/reviews", ADMIN_KEY).json() == []
    is_problem(
        api.post(f"/orders/{order['id']}/review", ADMIN_KEY, {"approve": True, "note": "ok"}),
        409,
        "invalid-state",
    )
