"""Answers match the schemas the OpenAPI document gives for them (schemathesis checks this for
what it reaches; these are the answers it cannot reach in a short run)."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from bnpl.domain.delinquency import CollectionsPolicy
from bnpl.runtime import Platform
from tests.api.conftest import ADMIN_KEY, Api


def test_a_payment_on_a_charged_off_bill_is_documented_as_recovery(api: Api, platform: Platform) -> None:
    """A repayment after charge-off allocates to ``recovery``: the documented components include it."""
    platform.settings = dataclasses.replace(
        platform.settings, collections=CollectionsPolicy(charge_off_dpd=30)
    )
    s = api.setup()
    mkey, ckey, cid = s["merchant"]["api_key"], s["customer"]["api_key"], s["customer"]["id"]
    order = api.checkout(s, amount=100_00).json()
    for step in ("capture", "deliver"):
        api.post(f"/orders/{order['id']}/{step}", mkey)
    due = date.fromisoformat(api.get(f"/orders/{order['id']}", ckey).json()["schedule"][0]["due_date"])
    platform.clock.day = due + timedelta(days=31)  # type: ignore[attr-defined]
    assert api.post("/admin/eod", ADMIN_KEY).status_code == 200
    assert api.get(f"/customers/{cid}", ADMIN_KEY).json()["account"]["state"] == "charged_off"

    paid = api.post(f"/customers/{cid}/repayments", ckey, {"amount": 10_00})
    assert paid.status_code == 201
    components = {a["component"] for a in paid.json()["allocations"]}
    assert components == {"recovery"}
    spec = api.client.get("/openapi.json").json()
    documented = spec["components"]["schemas"]["AllocationOut"]["properties"]["component"]["enum"]
    assert components <= set(documented)
