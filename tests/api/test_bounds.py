"""What the API accepts is bounded and encodable: every integer has a maximum (found by walking the
OpenAPI schema, so a new field cannot forget), huge integers are a 422, and so is text that UTF-8
cannot encode (a lone surrogate), in any string field of any request body."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

from bnpl.api.schemas import Strict
from bnpl.app import create_app
from bnpl.runtime import Settings
from bnpl.services.boot import open_platform
from tests.api.conftest import ADMIN_KEY, Api
from tests.api.test_api import is_problem


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return create_app(open_platform(Settings(database_url="sqlite://"))).openapi()


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def integers(spec: dict[str, Any], schema: dict[str, Any], where: str, seen: frozenset[str]) -> Iterator[Any]:
    """(where, schema) for every integer schema inside ``schema``, following $refs once each."""
    ref = schema.get("$ref")
    if ref is not None:
        if ref in seen:
            return
        yield from integers(spec, _resolve(spec, schema), where, seen | {ref})
        return
    if schema.get("type") == "integer":
        yield where, schema
    for key in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(schema.get(key, [])):
            yield from integers(spec, sub, f"{where}|{i}", seen)
    for name, sub in schema.get("properties", {}).items():
        yield from integers(spec, sub, f"{where}.{name}", seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from integers(spec, schema[key], f"{where}[]", seen)
    for name, sub in schema.get("$defs", {}).items():
        yield from integers(spec, sub, f"{where}$defs.{name}", seen)


def request_integers(spec: dict[str, Any]) -> Iterator[Any]:
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for param in op.get("parameters", []):
                where = f"{method.upper()} {path} {param['in']}:{param['name']}"
                yield from integers(spec, param.get("schema", {}), where, frozenset())
            for media, content in op.get("requestBody", {}).get("content", {}).items():
                yield from integers(
                    spec, content.get("schema", {}), f"{method.upper()} {path} {media}", frozenset()
                )


def test_every_integer_the_api_accepts_has_a_maximum_and_a_minimum(openapi: dict[str, Any]) -> None:
    found = list(request_integers(openapi))
    # the walk sees the fields this test is about (a walk that found nothing would prove nothing)
    names = {where.rsplit(".", 1)[-1].split("|")[0] for where, _ in found}
    assert {"agent_id", "order_id", "settle_amount", "promise_amount", "customer_id", "amount"} <= names
    assert any("query:agent_id" in where for where, _ in found)
    assert any("path:visit_id" in where for where, _ in found)
    unbounded = [
        where
        for where, schema in found
        if ("maximum" not in schema and "exclusiveMaximum" not in schema)
        or ("minimum" not in schema and "exclusiveMinimum" not in schema)
    ]
    assert not unbounded, unbounded
    assert all(s.get("maximum", s.get("exclusiveMaximum")) < 2**63 for _, s in found)


def test_every_request_body_is_a_strict_model() -> None:
    """``Strict`` refuses unknown fields and text UTF-8 cannot encode: every JSON body of the API must
    be one (the console's forms are not in the API, and a form cannot carry a lone surrogate)."""

    def routes(candidates: list[Any]) -> Iterator[Any]:
        for route in candidates:  # an included router keeps its own routes (FastAPI includes lazily)
            if not hasattr(route, "original_router"):
                yield route
            elif route.include_context.include_in_schema:  # the console is left out of the API
                yield from routes(route.original_router.routes)

    app = create_app(open_platform(Settings(database_url="sqlite://")))
    bodies = [
        r.body_field.field_info.annotation
        for r in routes(app.routes)
        if isinstance(r, APIRoute) and r.include_in_schema and r.body_field is not None
    ]
    assert len(bodies) > 20
    assert [b for b in bodies if not (isinstance(b, type) and issubclass(b, Strict))] == []


# The outside review's requests, and their neighbours: each was a 500.
HUGE = [
    ("/collections/visits/1/approval", {"agents": [1, 2**64], "slot": "2026-12-10T10:00:00"}),
    (
        "/collections/visits/1/approval",
        {"agents": [1, 2], "slot": "2026-12-10T10:00:00", "supervisor_id": 2**63},
    ),
    ("/collections/visits/1/decline", {"reason": "no", "supervisor_id": 2**64}),
    ("/collections/visits/1/outcome", {"outcome": "met", "checklist": {}, "agent_id": 2**64}),
    ("/collections/visits/1/outcome", {"outcome": "promise", "checklist": {}, "promise_amount": 2**64}),
    ("/collections/cases/1/contacts", {"template": "sms_reminder", "outcome": "sent", "agent_id": 2**64}),
    ("/collections/cases/1/promises", {"amount": 100, "due_on": "2026-04-01", "agent_id": 2**63}),
    ("/collections/cases/1/plans", {"kind": "settlement", "note": "x", "settle_amount": 2**64}),
    ("/collections/cases/1/visits", {"reason": "x", "agent_id": 2**64}),
    ("/customers/1/flags", {"kind": "dispute", "note": "x", "order_id": 2**63}),
    ("/customers/1/flags", {"kind": "dispute", "note": "x", "order_id": 2**64}),
]


@pytest.mark.parametrize(("path", "body"), HUGE)
def test_an_integer_past_the_bound_is_a_422(api: Api, path: str, body: dict[str, Any]) -> None:
    api.setup()
    is_problem(api.post(path, ADMIN_KEY, body), 422, "validation-error")


@pytest.mark.parametrize(
    "path", ["/collections/queue", "/collections/visits", "/collections/cases/1/contact-check"]
)
def test_a_huge_agent_id_in_the_query_is_a_422(api: Api, path: str) -> None:
    r = api.get(path, ADMIN_KEY, params={"agent_id": str(2**63), "template": "sms_reminder"})
    is_problem(r, 422, "validation-error")


def post_raw(api: Api, path: str, key: str, raw: str) -> Any:
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": f"raw-{path}-{len(raw)}"}
    return api.client.post(path, content=raw, headers={**headers, "Content-Type": "application/json"})


def test_a_lone_surrogate_in_any_string_field_is_a_422(api: Api) -> None:
    s = api.setup()
    mkey, ckey, cid = s["merchant"]["api_key"], s["customer"]["api_key"], s["customer"]["id"]
    order = api.checkout(s).json()
    bad = "a\ud800b"
    item = {"sku": "tea-1", "category": "tea", "unit_price": 100, "quantity": 1}
    # json.dumps writes the surrogate as the escape \ud800, as a client's JSON library would
    cases = [
        ("/orders", mkey, {"customer_id": cid, "items": [item], "currency": bad}),
        (f"/customers/{cid}/repayments", ckey, {"amount": 100, "currency": bad}),
        (f"/customers/{cid}/refunds", ckey, {"amount": 100, "currency": bad}),
        (f"/orders/{order['id']}/payoff", ckey, {"amount": 100, "currency": bad}),
        ("/merchants", ADMIN_KEY, {"name": bad, "mdr_bps": 100}),
        (
            "/collections/visits/1/outcome",
            ADMIN_KEY,
            {"outcome": "met", "checklist": {bad: True}, "agent_id": 1},
        ),
        ("/orders", mkey, {"customer_id": cid, "items": [{**item, "sku": "\udfff"}]}),
    ]
    for path, key, body in cases:
        body_text = json.dumps(body)
        assert "\\ud" in body_text
        problem = is_problem(post_raw(api, path, key, body_text), 422, "validation-error")
        assert "Unicode" in problem["detail"] or "unicode" in problem["detail"], problem
    # nothing was written by any of them
    assert len(api.get("/orders", ADMIN_KEY).json()) == 1
    assert api.get(f"/customers/{cid}/statement", ckey).json()["history"] == []
