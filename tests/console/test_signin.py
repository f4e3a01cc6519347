"""Signing in to the console, on SQLite and PostgreSQL: no transaction is open while a password is
checked (a sign-in flood must not hold up the API's writes), the per-source and overall throttles
answer 429 with Retry-After and are audited once a minute, and the per-username pause still holds."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from bnpl.app import create_app
from bnpl.runtime import ADMIN, Platform, Settings
from bnpl.services.staff import create_staff
from bnpl.store.tables import audit_log, staff_sign_in_attempts
from tests.conftest import TimeOfDayClock
from tests.console.conftest import PASSWORD, csrf_of

NAME = "signs.in"


@pytest.fixture
def clock() -> TimeOfDayClock:
    return TimeOfDayClock()  # stands still at 10:00 until the test moves it


@pytest.fixture
def app_platform(platform: Platform, clock: TimeOfDayClock) -> Platform:
    """The test platform on a clock the test moves by hand, with one member of staff."""
    platform.clock = clock
    platform.run(ADMIN, lambda ctx: create_staff(ctx, NAME, PASSWORD, "risk_analyst"))
    return platform


def limits(platform: Platform, per_source: int, overall: int) -> None:
    platform.settings = replace(
        platform.settings, sign_ins_per_minute_per_source=per_source, sign_ins_per_minute=overall
    )


@pytest.fixture
def browsers(app_platform: Platform) -> Iterator[Callable[[str], TestClient]]:
    """A browser at a given client address."""
    app = create_app(app_platform)
    opened: list[TestClient] = []

    def at(address: str) -> TestClient:
        client = TestClient(app, base_url="http://127.0.0.1", client=(address, 50000))
        client.__enter__()
        opened.append(client)
        return client

    yield at
    for client in opened:
        client.__exit__(None, None, None)


def post_sign_in(client: TestClient, username: str = NAME, password: str = PASSWORD) -> Any:
    csrf = csrf_of(client.get("/console/login").text)
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf": csrf},
        follow_redirects=False,
    )


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every scrypt run from here on (a password check, or the dummy hash being made)."""
    calls: list[int] = []
    real = hashlib.scrypt

    def counted(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    return calls


def audited(platform: Platform, action: str) -> list[Any]:
    with platform.read() as ctx:
        return list(
            ctx.conn.execute(
                select(audit_log.c.stream, audit_log.c.after).where(audit_log.c.action == action)
            ).all()
        )


# --- no transaction open during the password check ---------------------------------------------------


def test_no_transaction_is_open_while_a_password_is_checked(
    app_platform: Platform, browsers: Callable[[str], TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sign-in is parked inside scrypt; meanwhile the platform's engine has no transaction open
    and (SQLite) another connection writes at once with no busy timeout to wait in. Before the fix
    the whole sign-in, hash included, ran in one write transaction holding SQLite's write lock."""
    client = browsers("10.0.0.7")
    csrf = csrf_of(client.get("/console/login").text)
    open_transactions = [0]
    engine = app_platform.engine

    def began(_: Any) -> None:
        open_transactions[0] += 1

    def ended(_: Any) -> None:
        open_transactions[0] -= 1

    event.listen(engine, "begin", began)
    event.listen(engine, "commit", ended)
    event.listen(engine, "rollback", ended)
    inside, carry_on = threading.Event(), threading.Event()
    real = hashlib.scrypt

    def parked(*args: Any, **kwargs: Any) -> bytes:
        inside.set()
        assert carry_on.wait(60), "the test never let the password check finish"
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", parked)
    answer: list[Any] = []
    signing_in = threading.Thread(
        target=lambda: answer.append(
            client.post(
                "/console/login",
                data={"username": NAME, "password": PASSWORD, "csrf": csrf},
                follow_redirects=False,
            )
        )
    )
    signing_in.start()
    try:
        assert inside.wait(60), "the sign-in never reached the password check"
        held = open_transactions[0]
        if engine.dialect.name == "sqlite":
            other = sqlite3.connect(str(engine.url.database), timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")  # "database is locked" at once if anyone holds it
                other.execute("CREATE TABLE api_write_probe (x INTEGER)")
                other.execute("COMMIT")
            finally:
                other.close()
    finally:
        carry_on.set()
        signing_in.join(60)
        for name, fn in (("begin", began), ("commit", ended), ("rollback", ended)):
            event.remove(engine, name, fn)
    assert held == 0
    assert answer and answer[0].status_code == 303  # and the sign-in itself went through


# --- the per-source and overall throttles ----------------------------------------------------------------


def test_one_source_past_its_limit_gets_429_with_retry_after_and_no_password_check(
    app_platform: Platform,
    clock: TimeOfDayClock,
    browsers: Callable[[str], TestClient],
    scrypt_calls: list[int],
) -> None:
    limits(app_platform, per_source=3, overall=100)
    noisy, quiet = browsers("10.0.0.1"), browsers("10.0.0.2")
    for _ in range(3):
        assert "wrong username or password" in post_sign_in(noisy, password="not-the-password").text
    checked = len(scrypt_calls)
    refused = post_sign_in(noisy)  # the right password: refused all the same, and never checked
    assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
    assert "Too many sign-in attempts; try again in 60 s." in refused.text
    assert "bnpl_console" not in refused.cookies and len(scrypt_calls) == checked
    clock.at = time(10, 0, 20)
    again = post_sign_in(noisy)
    assert again.status_code == 429 and again.headers["retry-after"] == "40"
    # another address is not held up, and the refusals are audited once for the minute
    assert post_sign_in(quiet).status_code == 303
    records = audited(app_platform, "staff.sign_in_rate_limited")
    assert [r.stream for r in records] == ["sign-in:10.0.0.1"]
    assert records[0].after == {
        "scope": "source",
        "source": "10.0.0.1",
        "limit_per_minute": 3,
        "retry_after": 60,
    }
    # a minute after the first attempts, the address may try again
    clock.at = time(10, 1)
    assert post_sign_in(noisy).status_code == 303


def test_all_sources_together_are_throttled_too(
    app_platform: Platform, browsers: Callable[[str], TestClient]
) -> None:
    limits(app_platform, per_source=100, overall=4)
    for n in range(4):
        assert post_sign_in(browsers(f"10.0.1.{n}"), password="not-the-password").status_code == 200
    for n in (4, 5):  # two more addresses: both refused, one audit record
        refused = post_sign_in(browsers(f"10.0.1.{n}"))
        assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
    records = audited(app_platform, "staff.sign_in_rate_limited")
    assert [(r.stream, r.after["scope"]) for r in records] == [("sign-in:*", "overall")]
    with app_platform.read() as ctx:  # only the attempts let through take a place
        assert len(ctx.conn.execute(select(staff_sign_in_attempts.c.id)).all()) == 4


def test_the_throttles_are_settings() -> None:
    env = {"BNPL_SIGN_INS_PER_MINUTE": "30", "BNPL_SIGN_INS_PER_MINUTE_PER_SOURCE": "5"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        settings = Settings.from_env()
    assert (settings.sign_ins_per_minute, settings.sign_ins_per_minute_per_source) == (30, 5)
    assert (Settings().sign_ins_per_minute, Settings().sign_ins_per_minute_per_source) == (100, 20)
    with pytest.raises(ValueError, match="at least 1"):
        Settings.from_env(sign_ins_per_minute=0)


# --- the per-username pause, and no telling names apart by time --------------------------------------------


def test_a_username_pauses_after_five_wrong_passwords_then_opens_again(
    app_platform: Platform, clock: TimeOfDayClock, browsers: Callable[[str], TestClient]
) -> None:
    client = browsers("10.0.2.1")
    for _ in range(5):
        assert "wrong username or password" in post_sign_in(client, password="not-the-password").text
    paused = post_sign_in(client)  # the right password, refused while paused
    assert paused.status_code == 200 and "wrong username or password" in paused.text
    assert [r.stream for r in audited(app_platform, "staff.sign_in_throttled")] == [f"staff:{NAME}"]
    assert len(audited(app_platform, "staff.sign_in_failed")) == 5
    clock.at = time(10, 16)  # the failures at 10:00 have left the 15 minutes
    assert post_sign_in(client).status_code == 303


def test_an_unknown_or_paused_name_costs_a_password_check_like_any_other(
    app_platform: Platform, browsers: Callable[[str], TestClient], scrypt_calls: list[int]
) -> None:
    client = browsers("10.0.3.1")
    post_sign_in(client, username="nobody.here")  # the dummy hash is made at the first sign-in
    for username, password in (
        ("nobody.here", PASSWORD),
        (NAME, "not-the-password"),
        *[(NAME, "not-the-password")] * 4,
        (NAME, PASSWORD),  # paused by now
    ):
        before = len(scrypt_calls)
        assert post_sign_in(client, username, password).status_code == 200
        assert len(scrypt_calls) == before + 1, (username, password)


def test_sign_in_keeps_no_attempts_older_than_the_window(
    app_platform: Platform, clock: TimeOfDayClock, browsers: Callable[[str], TestClient]
) -> None:
    client = browsers("10.0.4.1")
    post_sign_in(client, password="not-the-password")
    clock.at = time(11)
    post_sign_in(client, password="not-the-password")
    with app_platform.read() as ctx:
        kept = ctx.conn.execute(select(staff_sign_in_attempts.c.at)).scalars().all()
    assert len(kept) == 1 and kept[0].hour == 11
