"""The API's edge: rate limits per API key, security headers, and docs served without a CDN."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bnpl.api.edge import LocalWindows, RateLimited, RateLimiter
from bnpl.app import create_app
from bnpl.runtime import Platform, Settings
from bnpl.store.tables import payments
from tests.api.conftest import ADMIN_KEY, Api
from tests.browser import chromium_page
from tests.server import live_server


@pytest.fixture
def tight(platform: Platform) -> Iterator[Api]:
    """The API with a customer key allowed three requests a minute."""
    platform.settings = replace(platform.settings, rate_limit_customer="3/minute")
    with TestClient(create_app(platform)) as client:
        yield Api(client)


def test_a_key_over_its_limit_gets_429_with_retry_after_and_problem_json(tight: Api) -> None:
    s = tight.setup()
    cid, ck = s["customer"]["id"], s["customer"]["api_key"]
    for _ in range(3):
        assert tight.get(f"/customers/{cid}/statement", ck).status_code == 200
    refused = tight.get(f"/customers/{cid}/statement", ck)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    body = refused.json()
    assert (body["code"], body["status"], body["retry_after"]) == (
        "rate-limited",
        429,
        int(refused.headers["Retry-After"]),
    )
    assert "3 per 1 minute" in body["detail"] and ck not in refused.text
    # per key, and per role: another shopper, the merchant and the admin are not held back
    other = tight.post("/customers", ADMIN_KEY, {"name": "Other", "credit_limit": 100_00}).json()
    assert tight.get(f"/customers/{other['id']}/statement", other["api_key"]).status_code == 200
    assert tight.get(f"/merchants/{s['merchant']['id']}", s["merchant"]["api_key"]).status_code == 200
    assert tight.get(f"/customers/{cid}/statement", ADMIN_KEY).status_code == 200


def test_a_refused_request_changes_nothing_and_its_idempotency_key_can_be_retried(
    tight: Api, platform: Platform
) -> None:
    s = tight.setup()
    cid, ck = s["customer"]["id"], s["customer"]["api_key"]
    for _ in range(3):
        tight.get(f"/customers/{cid}/statement", ck)
    refused = tight.post(f"/customers/{cid}/repayments", ck, {"amount": 10_00}, idem="pay-once")
    assert refused.status_code == 429
    with platform.read() as c:
        assert c.conn.execute(select(func.count()).select_from(payments)).scalar_one() == 0
    tight.client.app.state.rate_limiter.reset()  # type: ignore[attr-defined]  # the minute has passed
    paid = tight.post(f"/customers/{cid}/repayments", ck, {"amount": 10_00}, idem="pay-once")
    assert paid.status_code == 201 and paid.headers["Idempotent-Replayed"] == "false"
    again = tight.post(f"/customers/{cid}/repayments", ck, {"amount": 10_00}, idem="pay-once")
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == paid.json()["id"]
    with platform.read() as c:
        assert c.conn.execute(select(func.count()).select_from(payments)).scalar_one() == 1


def test_rate_limit_settings_are_checked_at_start_and_can_be_switched_off() -> None:
    with pytest.raises(ValueError, match="BNPL_RATE_LIMIT_MERCHANT must look like"):
        RateLimiter(Settings(rate_limit_merchant="lots"))
    with pytest.raises(ValueError, match="BNPL_RATE_LIMIT_STORAGE"):
        RateLimiter(Settings(rate_limit_storage="carrier-pigeon://coop"))
    off = RateLimiter(Settings(rate_limit_customer="off", rate_limit_staff="1/minute"))
    for _ in range(100):
        off.check("customer", "a" * 64)
    off.check("agent", "b" * 64)  # collections and risk roles count as staff
    with pytest.raises(RateLimited):
        off.check("field_agent", "b" * 64)


def test_the_defaults_let_a_live_stream_burst_through() -> None:
    limiter = RateLimiter(Settings())
    for _ in range(1500):  # more checkouts in a second than this machine can commit
        limiter.check("merchant", "c" * 64)


def test_workers_share_one_count_in_redis() -> None:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=0.5).ping()
    except redis.exceptions.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings = Settings(rate_limit_customer="3/minute", rate_limit_storage="redis://127.0.0.1:6379/0")
    one, two = RateLimiter(settings), RateLimiter(settings)  # as two worker processes would
    digest = uuid.uuid4().hex * 2
    try:
        one.check("customer", digest)
        two.check("customer", digest)
        one.check("customer", digest)
        with pytest.raises(RateLimited):
            two.check("customer", digest)
    finally:
        for item in one.limits["customer"]:
            one.limiter.clear(item, digest)


def test_requests_pass_when_the_counters_store_is_down(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("redis")
    down = RateLimiter(Settings(rate_limit_customer="1/minute", rate_limit_storage="redis://127.0.0.1:9/0"))
    down.check("customer", "d" * 64)
    down.check("customer", "d" * 64)  # not refused: nothing could be counted
    assert "rate limit not checked" in caplog.text


# --- headers ---------------------------------------------------------------------------------


def test_every_response_says_nosniff_and_private_ones_no_store(api: Api) -> None:
    s = api.setup()
    cid, ck = s["customer"]["id"], s["customer"]["api_key"]
    private = [
        api.get(f"/customers/{cid}", ck),
        api.get(f"/customers/{cid}/statement", ck),
        api.post("/customers", ADMIN_KEY, {"name": "New", "credit_limit": 100_00}),  # carries a key
        api.get("/customers/999", ADMIN_KEY),  # a refusal
        api.client.get(f"/customers/{cid}"),  # no key at all
        api.client.post("/payments/callback", content=b"{}"),  # the provider's, signed by HMAC
        api.client.get("/console/login"),
    ]
    public = [
        api.client.get("/plans", params={"amount": 100_00}),
        api.client.get("/openapi.json"),
        api.client.get("/docs"),
        api.client.get("/docs-assets/swagger-ui.css"),
    ]
    for response in private + public:
        assert response.headers["X-Content-Type-Options"] == "nosniff", response.url
    for response in private:
        assert response.headers["Cache-Control"] == "no-store", response.url
    for response in public:
        assert response.status_code == 200 and "no-store" not in response.headers.get("Cache-Control", "")


# --- docs without a CDN ------------------------------------------------------------------------

_URL = re.compile(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""", re.IGNORECASE)


def test_the_docs_page_loads_nothing_from_another_host(api: Api) -> None:
    html = api.client.get("/docs").text
    urls = _URL.findall(html)
    assert len(urls) >= 4 and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "http://" not in html and "https://" not in html
    for url in urls:
        if url.startswith("/docs-assets/"):
            assert api.client.get(url).status_code == 200, url
    assert '"validatorUrl": null' in html  # Swagger UI would send the schema's address to swagger.io
    assert api.client.get("/redoc").status_code == 404  # ReDoc loads its logo from its CDN


def test_the_docs_render_in_a_browser_from_this_server_alone(sqlite_platform: Platform) -> None:
    with live_server(create_app(sqlite_platform)) as base, chromium_page() as page:
        hosts: set[str] = set()
        problems: list[str] = []
        page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/docs")
        page.wait_for_selector(".opblock-summary", timeout=20_000)  # the operations are listed
        assert page.locator(".opblock-summary").count() > 20
        page.get_by_text("POST/customers/{customer_id}/repayments").first.click()  # open one
        page.wait_for_selector("text=Idempotency-Key", timeout=10_000)
        host: Any = base.split("/")[2]
        assert hosts == {host} and problems == [], (hosts, problems)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.tuples(st.floats(0, 0.2), st.sampled_from(["a", "b"])), min_size=1, max_size=80),
    start=st.floats(1_000_000, 2_000_000),
)
def test_the_in_process_counter_counts_as_limits_does(steps: list[tuple[float, str]], start: float) -> None:
    """The counter kept in this process's memory allows and refuses exactly the hits that
    ``limits``' own sliding-window counter over its memory storage does, at every moment."""
    import time as clock

    from limits import parse_many
    from limits.storage import MemoryStorage
    from limits.strategies import SlidingWindowCounterRateLimiter

    item = parse_many("5/second")[0]
    ours = LocalWindows()
    theirs = SlidingWindowCounterRateLimiter(MemoryStorage())
    now = start
    real = clock.time
    try:
        clock.time = lambda: now  # type: ignore[assignment]  # both read the wall clock
        for pause, key in steps:
            now += pause
            assert ours.hit(item, key) == theirs.hit(item, key), (now, key)
            reset, left = ours.get_window_stats(item, key)
            expected = theirs.get_window_stats(item, key)
            assert left == expected.remaining and reset == pytest.approx(expected.reset_time), (now, key)
    finally:
        clock.time = real  # type: ignore[assignment]


def test_the_in_process_counter_forgets_keys_whose_windows_are_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time as clock

    from limits import parse_many

    item = parse_many("5/second")[0]
    counter = LocalWindows()
    monkeypatch.setattr(LocalWindows, "PRUNE_EVERY", 10)
    now = 1_000_000.0
    monkeypatch.setattr(clock, "time", lambda: now)
    for n in range(9):
        assert counter.hit(item, f"old-{n}")
    now += 2.5  # two windows later: the old keys count nothing
    assert counter.hit(item, "new")  # the tenth hit prunes
    assert sorted(k for _, k in counter._windows) == ["new"]
