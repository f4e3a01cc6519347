"""Refunds of a credit balance over HTTP, and a chargeback after the money went back out."""

from __future__ import annotations

from tests.api.conftest import ADMIN_KEY, Api


def test_a_refund_then_a_chargeback_over_http(api: Api) -> None:
    s = api.setup()
    cid, ck = s["customer"]["id"], s["customer"]["api_key"]
    payment = api.post(f"/customers/{cid}/repayments", ck, {"amount": 80_00}).json()
    assert payment["to_credit_balance"] == 80_00

    too_much = api.post(f"/customers/{cid}/refunds", ck, {"amount": 90_00})
    assert too_much.status_code == 422 and too_much.json()["code"] == "invalid-amount"
    other = api.post("/customers", ADMIN_KEY, {"name": "Other", "credit_limit": 100_00}).json()
    assert api.post(f"/customers/{other['id']}/refunds", ck, {"amount": 1}).status_code == 404
    assert api.post(f"/customers/{cid}/refunds", s["merchant"]["api_key"], {"amount": 1}).status_code == 403

    refund = api.post(f"/customers/{cid}/refunds", ck, {"amount": 50_00}, idem="refund-1")
    assert refund.status_code == 201 and refund.json()["credit_balance"] == 30_00
    again = api.post(f"/customers/{cid}/refunds", ck, {"amount": 50_00}, idem="refund-1")
    assert again.json() == refund.json() and again.headers["Idempotent-Replayed"] == "true"

    reversed_ = api.post(f"/admin/payments/{payment['id']}/reverse", ADMIN_KEY, {"reason": "chargeback"})
    assert reversed_.status_code == 200 and reversed_.json()["chargeback_owed"] == 50_00
    statement = api.get(f"/customers/{cid}/statement", ck).json()
    assert (statement["total_owed"], statement["chargeback_owed"]) == (50_00, 50_00)
    assert statement["account"]["credit_balance"] == 0
    assert api.get(f"/customers/{cid}", ck).json()["account"]["chargeback_owed"] == 50_00

    paid = api.post(f"/customers/{cid}/repayments", ck, {"amount": 60_00}).json()
    assert (paid["to_chargeback"], paid["to_credit_balance"]) == (50_00, 10_00)
    assert api.get("/admin/ledger/check", ADMIN_KEY).json()["ok"] is True
