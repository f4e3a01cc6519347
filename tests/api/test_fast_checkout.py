"""The checkout's short way (``api/fast_checkout.py``): the ordinary checkout and capture are
answered as the route answers them, and everything out of the ordinary reaches the route itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bnpl.app import create_app
from bnpl.runtime import Platform
from bnpl.store.tables import orders
from tests.api.conftest import ADMIN_KEY, Api


def _short(api: Api) -> int:
    return int(api.client.app.state.fast_checkouts)  # type: ignore[attr-defined]


def _order(s: dict[str, Any]) -> dict[str, Any]:
    item = {"sku": "tea-1", "category": "tea", "unit_price": 100_00, "quantity": 1}
    return {"customer_id": s["customer"]["id"], "items": [item], "channel": "live_stream"}


def _count_orders(platform: Platform) -> int:
    with platform.read() as c:
        return int(c.conn.execute(select(func.count()).select_from(orders)).scalar_one())


def test_an_ordinary_checkout_and_capture_are_answered_as_the_route_answers(api: Api) -> None:
    s = api.setup()
    mk = s["merchant"]["api_key"]
    by_route = api.post("/orders", mk, _order(s))  # the key is not cached yet: the route answers
    assert _short(api) == 0
    short = api.post("/orders", mk, _order(s), idem="short-1")
    assert _short(api) == 1
    assert (by_route.status_code, short.status_code) == (201, 201)
    assert set(short.json()) == set(by_route.json())
    assert short.json()["status"] == by_route.json()["status"] == "authorized"
    assert short.json()["id"] != by_route.json()["id"]
    for name in ("content-type", "Idempotent-Replayed", "X-Content-Type-Options", "Cache-Control"):
        assert short.headers[name] == by_route.headers[name], name

    again = api.post("/orders", mk, _order(s), idem="short-1")
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == short.json()
    other_body = api.post("/orders", mk, {**_order(s), "channel": "mall"}, idem="short-1")
    assert other_body.status_code == 409 and other_body.json()["code"] == "idempotency-key-reused"

    captured = api.post(f"/orders/{short.json()['id']}/capture", mk, idem="ship-1")
    assert captured.status_code == 200 and captured.json()["status"] == "captured"
    replayed = api.post(f"/orders/{short.json()['id']}/capture", mk, idem="ship-1")
    assert replayed.headers["Idempotent-Replayed"] == "true" and replayed.json() == captured.json()
    missing = api.post("/orders/999999/capture", mk)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert _short(api) == 6


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("no idempotency key", 400, "idempotency-key-required"),
        ("idempotency key too long", 400, "idempotency-key-required"),
        ("field refused", 422, "validation-error"),
        ("unknown field", 422, "validation-error"),
        ("malformed json", 400, "malformed-json"),
        ("customer key", 403, "forbidden"),
        ("admin key", 403, "forbidden"),
        ("unknown key", 401, "unauthenticated"),
        ("order id out of range", 422, "validation-error"),
    ],
)
def test_a_request_out_of_the_ordinary_gets_the_routes_own_answer(
    api: Api, platform: Platform, case: str, status: int, code: str
) -> None:
    s = api.setup()
    mk = s["merchant"]["api_key"]
    assert api.post("/orders", mk, _order(s)).status_code == 201  # the merchant's key is cached now
    before, path = _count_orders(platform), "/orders"
    headers = {"Authorization": f"Bearer {mk}", "Idempotency-Key": "odd-1"}
    body: Any = _order(s)
    content: bytes | None = None
    if case == "no idempotency key":
        del headers["Idempotency-Key"]
    elif case == "idempotency key too long":
        headers["Idempotency-Key"] = "k" * 256
    elif case == "field refused":
        body["items"][0]["quantity"] = 0
    elif case == "unknown field":
        body["cashback"] = 5
    elif case == "malformed json":
        body, content = None, b'{"customer_id": 1, "items": ['
        headers["Content-Type"] = "application/json"
    elif case == "customer key":
        headers["Authorization"] = f"Bearer {s['customer']['api_key']}"
    elif case == "admin key":
        headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    elif case == "unknown key":
        headers["Authorization"] = "Bearer not-a-key"
    elif case == "order id out of range":
        path, body = f"/orders/{10**19}/capture", None
    answer = api.client.post(path, json=body, content=content, headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    if case == "field refused":  # the route read the body the short way had read before it
        assert "items.0.quantity" in answer.json()["detail"]
    assert _short(api) == 0 and _count_orders(platform) == before


@pytest.fixture
def tight(platform: Platform) -> Iterator[Api]:
    """Merchants allowed three requests a minute."""
    platform.settings = replace(platform.settings, rate_limit_merchant="3/minute")
    with TestClient(create_app(platform)) as client:
        yield Api(client)


def test_the_short_way_counts_the_rate_limit_and_a_refusal_changes_nothing(
    tight: Api, platform: Platform
) -> None:
    s = tight.setup()
    mk = s["merchant"]["api_key"]
    assert tight.post("/orders", mk, _order(s)).status_code == 201  # by the route: one
    assert tight.post("/orders", mk, _order(s)).status_code == 201  # the short way: two
    assert tight.post("/orders", mk, _order(s)).status_code == 201  # three
    before = _count_orders(platform)
    refused = tight.post("/orders", mk, _order(s), idem="later")
    assert refused.status_code == 429 and refused.json()["code"] == "rate-limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    assert _count_orders(platform) == before and _short(tight) == 2
    tight.client.app.state.rate_limiter.reset()  # type: ignore[attr-defined]  # the minute has passed
    retried = tight.post("/orders", mk, _order(s), idem="later")
    assert retried.status_code == 201 and retried.headers["Idempotent-Replayed"] == "false"
