"""Credit over HTTP: the model registry for operators, a customer's own assessment, roles."""

from __future__ import annotations

from typing import Any

import pytest

from bnpl.credit.registry import register
from bnpl.credit.scorecard import Scorecard, fit_scorecard
from bnpl.credit.synthetic import synthetic
from bnpl.runtime import SYSTEM, Platform
from tests.api.conftest import ADMIN_KEY, Api
from tests.api.test_api import is_problem


@pytest.fixture(scope="module")
def scorecard() -> Scorecard:
    return fit_scorecard(synthetic(rows=2000, seed=3))


def add(platform: Platform, model: Any, dataset: str = "synthetic") -> str:
    return platform.run(SYSTEM, lambda c: register(c.conn, model, dataset, {"source": {}}, c.now))


def test_promotion_and_a_customers_own_assessment(api: Api, platform: Platform, scorecard: Scorecard) -> None:
    s = api.setup()
    cid, ckey, mkey = s["customer"]["id"], s["customer"]["api_key"], s["merchant"]["api_key"]
    assert api.get(f"/customers/{cid}/credit", ckey).json()["assessed"] is False
    version = add(platform, scorecard)

    assert api.get("/admin/models", ADMIN_KEY).json()[0]["role"] == "candidate"
    is_problem(api.get("/admin/models", mkey), 403, "forbidden")
    is_problem(api.post(f"/admin/models/{version}/role", ckey, {"role": "champion"}), 403, "forbidden")
    is_problem(
        api.post(f"/admin/models/{version}/role", ADMIN_KEY, {"role": "boss"}), 422, "validation-error"
    )
    is_problem(api.post("/admin/models/nope-1/role", ADMIN_KEY, {"role": "champion"}), 404, "not-found")
    promoted = api.post(f"/admin/models/{version}/role", ADMIN_KEY, {"role": "champion"}, idem="promote-1")
    assert promoted.status_code == 200 and promoted.json()["role"] == "champion"
    replay = api.post(f"/admin/models/{version}/role", ADMIN_KEY, {"role": "champion"}, idem="promote-1")
    assert replay.headers.get("Idempotent-Replayed") == "true"

    mine = api.get(f"/customers/{cid}/credit", ckey).json()
    assert mine["assessed"] is True and mine["thin_file"] is True and mine["grade"] is None
    assert mine["starter_limit"] == 500_00 and "phones" in mine["starter_blocked_categories"]
    assert [r["code"] for r in mine["reasons"]] == ["STARTER_LIMIT"]
    assert "pd" not in mine and "model_version" not in mine  # internals are for staff
    staff = api.get(f"/customers/{cid}/credit", ADMIN_KEY).json()
    assert staff["model_version"] == version and 0 < staff["pd"] < 1
    is_problem(api.get(f"/customers/{cid}/credit", mkey), 404, "not-found")
    other = api.post("/customers", ADMIN_KEY, {"name": "Other", "credit_limit": 100_00}).json()
    is_problem(api.get(f"/customers/{other['id']}/credit", ckey), 404, "not-found")

    # the checkout now runs the starter policy for this new customer, and says so
    answer = api.checkout(s, amount=800_00).json()
    # the merchant sees a plain no: the size of the offer would tell it the customer's situation
    assert (answer["decision"]["outcome"], answer["decision"]["approved_amount"]) == ("decline", 0)
    order = api.get(f"/orders/{answer['id']}", ckey).json()
    assert order["decision"]["outcome"] == "approve_lower" and order["decision"]["approved_amount"] == 500_00
    decision = api.get(f"/decisions/{order['decision']['id']}", ckey).json()
    assert decision["credit"] == {"thin_file": True} and "model" not in decision["versions"]


def test_a_model_on_foreign_columns_cannot_be_promoted(api: Api, platform: Platform) -> None:
    from bnpl.credit.dataset import german

    version = add(platform, fit_scorecard(german().subset(list(range(300)))), "german")
    body = is_problem(
        api.post(f"/admin/models/{version}/role", ADMIN_KEY, {"role": "shadow"}), 409, "invalid-state"
    )
    assert "platform" in body["detail"]
    with platform.read() as c:
        from bnpl.services import audit

        assert audit.verify(c.conn)[1] == []
