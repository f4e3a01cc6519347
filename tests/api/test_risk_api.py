"""The customer's own controls and the rule statistics over HTTP."""

from __future__ import annotations

from tests.api.conftest import ADMIN_KEY, Api
from tests.api.test_api import is_problem


def test_a_customer_sets_a_ceiling_and_pauses(api: Api) -> None:
    s = api.setup()
    cid, ckey, mkey = s["customer"]["id"], s["customer"]["api_key"], s["merchant"]["api_key"]
    path = f"/customers/{cid}/controls"
    account = api.post(path, ckey, {"own_limit": 300_00}).json()
    assert account["own_limit"] == 300_00 and account["paused_until"] is None
    lower = api.checkout(s, amount=400_00).json()
    # the merchant learns only that pay later is not available, not the customer's own ceiling
    assert [r["code"] for r in lower["decision"]["reasons"]] == ["NOT_AVAILABLE"]
    assert (lower["decision"]["outcome"], lower["decision"]["approved_amount"]) == ("decline", 0)
    assert "model" not in lower["decision"]["versions"]
    for key in (ckey, ADMIN_KEY):  # the customer and staff see why, and the offer
        seen = api.get(f"/orders/{lower['id']}", key).json()["decision"]
        assert seen["reasons"][0]["code"] == "OWN_LIMIT" and seen["approved_amount"] == 300_00
    # leaving own_limit out keeps it; null clears it
    assert api.post(path, ckey, {"pause_days": 2}).json()["own_limit"] == 300_00
    paused = api.checkout(s, amount=10_00).json()
    assert (
        api.get(f"/orders/{paused['id']}", ckey).json()["decision"]["reasons"][0]["code"]
        == "PAUSED_BY_CUSTOMER"
    )
    cleared = api.post(path, ckey, {"own_limit": None, "pause_days": 0}).json()
    assert cleared["own_limit"] is None and cleared["paused_until"] is None
    assert api.checkout(s, amount=400_00).json()["status"] == "authorized"

    is_problem(api.post(path, ckey, {"pause_days": 400}), 422, "validation-error")
    is_problem(api.post(path, ckey, {"own_limit": "lots"}), 422, "validation-error")
    is_problem(api.post(path, ckey, {}), 422, "invalid-input")
    is_problem(api.post(path, mkey, {"pause_days": 1}), 403, "forbidden")
    other = api.post("/customers", ADMIN_KEY, {"name": "Other", "credit_limit": 100_00}).json()
    is_problem(api.post(f"/customers/{other['id']}/controls", ckey, {"pause_days": 1}), 404, "not-found")


def test_rule_statistics_are_for_staff(api: Api) -> None:
    s = api.setup()
    api.checkout(s, amount=100_00)
    stats = api.get("/admin/rules/stats", ADMIN_KEY).json()
    assert stats[0]["decisions"] == 1 and stats[0]["outcomes"] == {"approve": 1}
    is_problem(api.get("/admin/rules/stats", s["merchant"]["api_key"]), 403, "forbidden")
    is_problem(api.get("/admin/rules/stats?since=yesterday", ADMIN_KEY), 422, "validation-error")


def test_a_merchant_cannot_see_whether_its_customer_has_paid(api: Api) -> None:
    s = api.setup()
    mkey, ckey = s["merchant"]["api_key"], s["customer"]["api_key"]
    oid = api.checkout(s, amount=100_00).json()["id"]
    api.post(f"/orders/{oid}/capture", mkey)
    seen = api.get(f"/orders/{oid}", mkey).json()["schedule"][0]
    assert seen["principal"] == 100_00 and seen["principal_paid"] is None and seen["status"] is None
    assert api.get(f"/orders/{oid}", ckey).json()["schedule"][0]["status"] == "open"
    is_problem(api.get(f"/orders/{oid}/payoff-quote", mkey), 403, "forbidden")
