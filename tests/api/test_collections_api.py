"""Collections over HTTP: agents with their own keys work their queue; the contact policy answers
before a contact; merchants and customers see none of it; bad input is a problem+json."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from bnpl.runtime import FixedClock, Platform
from tests.api.conftest import ADMIN_KEY, Api
from tests.api.test_api import is_problem


class Morning(FixedClock):
    def now(self) -> datetime:
        return datetime.combine(self.day, time(2), tzinfo=UTC)  # 10:00 in Shanghai


def bought_at_ten(api: Api, platform: Platform) -> tuple[int, str, str, date]:
    """A shopper's 600-yuan order shipped and delivered, on a clock at 10:00 Shanghai time:
    the customer's id and key, the merchant's key, and the bill's due date."""
    platform.clock = Morning(platform.clock.today())
    s = api.setup(limit=2000_00)
    cid, ckey, mkey = s["customer"]["id"], s["customer"]["api_key"], s["merchant"]["api_key"]
    order = api.checkout(s, amount=600_00).json()
    for step in ("capture", "deliver"):
        api.post(f"/orders/{order['id']}/{step}", mkey)
    due = date.fromisoformat(api.get(f"/orders/{order['id']}", ckey).json()["schedule"][0]["due_date"])
    return cid, ckey, mkey, due


def test_an_agent_works_a_case_over_http(api: Api, platform: Platform) -> None:
    cid, ckey, mkey, due = bought_at_ten(api, platform)
    agent = api.post("/admin/collections/agents", ADMIN_KEY, {"name": "Ann", "role": "agent"}).json()
    sup = api.post("/admin/collections/agents", ADMIN_KEY, {"name": "Sam", "role": "supervisor"}).json()
    is_problem(
        api.post("/admin/collections/agents", ADMIN_KEY, {"name": "X", "role": "boss"}),
        422,
        "validation-error",
    )
    is_problem(
        api.post("/admin/collections/agents", agent["api_key"], {"name": "X", "role": "agent"}),
        403,
        "forbidden",
    )

    platform.clock.day = due + timedelta(days=3)
    assert api.post("/admin/eod", ADMIN_KEY).status_code == 200
    queue = api.get("/collections/queue", agent["api_key"]).json()
    assert [c["customer_id"] for c in queue] == [cid] and queue[0]["bucket"] == "M1"
    case_id = queue[0]["id"]
    view = api.get(f"/collections/cases/{case_id}", agent["api_key"]).json()
    assert view["customer"]["name"] == "Shopper" and view["dpd"] == 3

    check = api.get(
        f"/collections/cases/{case_id}/contact-check?template=collect_call", agent["api_key"]
    ).json()
    assert check == {"allowed": True, "rule": None, "reason": check["reason"]}
    made = api.post(
        f"/collections/cases/{case_id}/contacts",
        agent["api_key"],
        {"template": "collect_call", "outcome": "reached"},
    )
    assert made.status_code == 201 and made.json()["allowed"] and made.json()["agent_id"] == agent["id"]
    blocked = api.post(
        f"/collections/cases/{case_id}/contacts",
        agent["api_key"],
        {"template": "collect_call", "outcome": "reached"},
    )
    assert (blocked.json()["allowed"], blocked.json()["rule"]) == (False, "call_after_conversation")
    promise = api.post(
        f"/collections/cases/{case_id}/promises",
        agent["api_key"],
        {"amount": 300_00, "due_on": str(due + timedelta(days=6))},
    )
    assert promise.status_code == 201 and promise.json()["status"] == "open"
    is_problem(
        api.post(
            f"/collections/cases/{case_id}/promises", agent["api_key"], {"amount": -1, "due_on": str(due)}
        ),
        422,
        "validation-error",
    )
    is_problem(
        api.post(
            f"/collections/cases/{case_id}/contacts",
            agent["api_key"],
            {"template": "nope", "outcome": "reached"},
        ),
        422,
        "invalid-input",
    )

    # the customer may ask us to stop; the merchant and the customer see no collections data
    assert (
        api.post(f"/customers/{cid}/flags", ckey, {"kind": "cease_contact", "note": "by letter"}).status_code
        == 201
    )
    is_problem(api.post(f"/customers/{cid}/flags", ckey, {"kind": "illness", "note": "x"}), 404, "not-found")
    for key in (mkey, ckey):
        is_problem(api.get("/collections/queue", key), 403, "forbidden")
        is_problem(api.get(f"/collections/cases/{case_id}", key), 403, "forbidden")
    stopped = api.get(
        f"/collections/cases/{case_id}/contact-check?template=collect_sms", agent["api_key"]
    ).json()
    assert stopped["rule"] == "cease_contact"

    today = platform.clock.today().isoformat()
    report = api.get(f"/admin/compliance?from={today}&to={today}", sup["api_key"]).json()
    assert report["proof"]["ok"] and report["contacts_blocked"] >= 1
    is_problem(api.get(f"/admin/compliance?from={today}&to={today}", agent["api_key"]), 403, "forbidden")
    is_problem(api.get(f"/admin/compliance?from={today}&to=2020-01-01", sup["api_key"]), 422, "invalid-input")


def test_agents_act_only_as_themselves_and_only_on_their_cases(api: Api, platform: Platform) -> None:
    cid, ckey, mkey, due = bought_at_ten(api, platform)
    ann = api.post("/admin/collections/agents", ADMIN_KEY, {"name": "Ann", "role": "agent"}).json()
    platform.clock.day = due + timedelta(days=3)
    api.post("/admin/eod", ADMIN_KEY)
    bob = api.post("/admin/collections/agents", ADMIN_KEY, {"name": "Bob", "role": "agent"}).json()
    spec = api.post("/admin/collections/agents", ADMIN_KEY, {"name": "Cai", "role": "specialist"}).json()
    [case] = api.get("/collections/queue", ann["api_key"]).json()
    contact = {"template": "collect_call", "outcome": "no_answer"}
    # Bob may not see, check or work Ann's case, nor credit a promise to her
    is_problem(api.get(f"/collections/cases/{case['id']}", bob["api_key"]), 404, "not-found")
    is_problem(
        api.post(f"/collections/cases/{case['id']}/contacts", bob["api_key"], contact), 404, "not-found"
    )
    check = f"/collections/cases/{case['id']}/contact-check?template=collect_call"
    is_problem(api.get(check, bob["api_key"]), 404, "not-found")
    promise = {"amount": 100_00, "due_on": str(due + timedelta(days=5)), "agent_id": bob["id"]}
    is_problem(
        api.post(f"/collections/cases/{case['id']}/promises", ann["api_key"], promise), 403, "forbidden"
    )
    # customers and merchants get nothing of collections
    for key in (ckey, mkey):
        is_problem(api.get(check, key), 403, "forbidden")
        is_problem(api.get("/collections/visits", key), 403, "forbidden")
    # a specialist works the cases given to them (vulnerable customers go to specialists)
    api.post(f"/customers/{cid}/flags", ADMIN_KEY, {"kind": "illness", "note": "in hospital"})
    platform.clock.advance(1)
    api.post("/admin/eod", ADMIN_KEY)
    assert [c["id"] for c in api.get("/collections/queue", spec["api_key"]).json()] == [case["id"]]
    made = api.post(f"/collections/cases/{case['id']}/contacts", spec["api_key"], contact).json()
    assert made["allowed"] and made["agent_id"] == spec["id"]
    is_problem(
        api.post(f"/collections/cases/{case['id']}/contacts", ann["api_key"], contact), 404, "not-found"
    )
