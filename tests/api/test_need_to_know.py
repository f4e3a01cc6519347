"""Need-to-know over HTTP (services/access.py): a collections agent's key reads the customers of
their open cases and nothing else; a field agent the cases with a visit assigned to them; roles
that may not read orders or merchants at all get 403, another merchant's order stays 404."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import insert

from bnpl.runtime import Platform
from bnpl.store.tables import field_visits
from tests.api.conftest import ADMIN_KEY, Api
from tests.api.test_api import is_problem
from tests.api.test_collections_api import bought_at_ten


def _world(api: Api, platform: Platform) -> dict[str, Any]:
    """Shopper 1 overdue with a case worked by Ann; shopper 2 with an order and no case; Bob, an
    agent with no case; two field agents."""
    cid, ckey, mkey, due = bought_at_ten(api, platform)
    staff = {
        name: api.post("/admin/collections/agents", ADMIN_KEY, {"name": name, "role": role}).json()
        for name, role in (("Ann", "agent"), ("Fay", "field_agent"), ("Fei", "field_agent"))
    }
    other = api.post("/customers", ADMIN_KEY, {"name": "Second", "credit_limit": 1000_00}).json()
    body = {
        "customer_id": other["id"],
        "items": [{"sku": "tea-1", "category": "tea", "unit_price": 50_00, "quantity": 1}],
    }
    order2 = api.post("/orders", mkey, body).json()
    platform.clock.day = due + timedelta(days=3)
    assert api.post("/admin/eod", ADMIN_KEY).status_code == 200
    staff["Bob"] = api.post("/admin/collections/agents", ADMIN_KEY, {"name": "Bob", "role": "agent"}).json()
    [case] = api.get("/collections/queue", staff["Ann"]["api_key"]).json()
    order1 = api.get("/orders", ckey).json()[0]
    return {
        "cid": cid,
        "ckey": ckey,
        "mkey": mkey,
        "other": other,
        "case": case,
        "staff": staff,
        "order1": order1,
        "order2": order2,
    }


def _customer_reads(w: dict[str, Any], customer_id: int, decision_id: int) -> list[str]:
    return [
        f"/customers/{customer_id}",
        f"/customers/{customer_id}/statement",
        f"/customers/{customer_id}/credit",
        f"/decisions/{decision_id}",
    ]


def test_an_agent_reads_only_the_customers_of_their_open_cases(api: Api, platform: Platform) -> None:
    w = _world(api, platform)
    ann, bob = w["staff"]["Ann"]["api_key"], w["staff"]["Bob"]["api_key"]
    mine = _customer_reads(w, w["cid"], w["order1"]["decision"]["id"])
    theirs = _customer_reads(w, w["other"]["id"], w["order2"]["decision"]["id"])
    for path in mine:
        assert api.get(path, ann).status_code == 200, path
        is_problem(api.get(path, bob), 404, "not-found")  # not Bob's case
    for path in theirs:  # no case at all
        is_problem(api.get(path, ann), 404, "not-found")
    # nor may Ann flag a customer who is not hers
    flag = {"kind": "hardship", "note": "said so"}
    is_problem(api.post(f"/customers/{w['other']['id']}/flags", ann, flag), 404, "not-found")
    assert api.post(f"/customers/{w['cid']}/flags", ann, flag).status_code == 201
    # the customer still reads only themselves, the admin anyone
    for path in theirs:
        is_problem(api.get(path, w["ckey"]), 404, "not-found")
        assert api.get(path, ADMIN_KEY).status_code == 200, path


def test_a_field_agent_reads_only_cases_with_a_visit_assigned_to_them(api: Api, platform: Platform) -> None:
    w = _world(api, platform)
    fay, fei = w["staff"]["Fay"], w["staff"]["Fei"]
    case = w["case"]
    paths = [f"/collections/cases/{case['id']}", f"/customers/{w['cid']}"]
    for path in paths:
        is_problem(api.get(path, fay["api_key"]), 404, "not-found")
    check = f"/collections/cases/{case['id']}/contact-check?template=collect_call&agent_id={fay['id']}"
    is_problem(api.get(check, fay["api_key"]), 404, "not-found")
    # a visit approved for Fay and Fei (as a supervisor's approval leaves it)
    with platform.engine.begin() as conn:
        conn.execute(
            insert(field_visits).values(
                case_id=case["id"],
                customer_id=w["cid"],
                status="approved",
                requested_by=w["staff"]["Ann"]["id"],
                requested_on=platform.clock.today(),
                reason="no answer for weeks",
                agent_a=fay["id"],
                agent_b=fei["id"],
            )
        )
    for key in (fay["api_key"], fei["api_key"]):
        for path in paths:
            assert api.get(path, key).status_code == 200, path
        is_problem(api.get(f"/customers/{w['other']['id']}", key), 404, "not-found")


def test_roles_that_read_no_orders_get_403_and_a_merchant_404_for_anothers(
    api: Api, platform: Platform
) -> None:
    w = _world(api, platform)
    ann = w["staff"]["Ann"]["api_key"]
    order_id = w["order1"]["id"]
    for path in ("/orders", f"/orders/{order_id}", f"/orders?customer_id={w['cid']}"):
        problem = is_problem(api.get(path, ann), 403, "forbidden")
        assert "may not read orders" in problem["detail"]
    is_problem(api.post(f"/orders/{order_id}/capture", ann), 403, "forbidden")
    other = api.post("/merchants", ADMIN_KEY, {"name": "Elsewhere", "mdr_bps": 100}).json()
    is_problem(api.get(f"/orders/{order_id}", other["api_key"]), 404, "not-found")
    assert api.get(f"/orders/{order_id}", w["mkey"]).status_code == 200
    assert api.get("/orders", other["api_key"]).json() == []


def test_merchants_are_read_by_themselves_and_admins_only(api: Api, platform: Platform) -> None:
    w = _world(api, platform)
    merchant_id = w["order1"]["merchant_id"]
    for path in (f"/merchants/{merchant_id}", f"/merchants/{merchant_id}/balances"):
        assert api.get(path, w["mkey"]).status_code == 200
        assert api.get(path, ADMIN_KEY).status_code == 200
        for key in (w["ckey"], w["staff"]["Ann"]["api_key"]):
            is_problem(api.get(path, key), 403, "forbidden")
