"""Console messages, on SQLite and PostgreSQL: they are kept on the server for the browser they
belong to and shown once, and a crafted link's ``?message=``/``?error=`` shows nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bnpl.app import create_app
from bnpl.runtime import ADMIN, Platform
from bnpl.services.staff import create_staff
from tests.console.conftest import PASSWORD, csrf_of, sign_in
from tests.world import World

FAKE = "Your account is suspended: call 400-000-0000"


@pytest.fixture
def world(platform: Platform) -> World:
    platform.run(ADMIN, lambda ctx: create_staff(ctx, "flash.admin", PASSWORD, "admin"))
    return World.create(platform)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.platform), base_url="http://127.0.0.1") as c:
        yield c


def test_a_crafted_link_shows_no_message(client: TestClient, world: World) -> None:
    for page in ("/console/login", f"/console/customers/{world.customer_id}"):
        if page != "/console/login":
            assert sign_in(client, "flash.admin").status_code == 303
        for parameter in ("message", "error"):
            shown = client.get(page, params={parameter: FAKE})
            assert shown.status_code == 200 and "400-000-0000" not in shown.text, (page, parameter)
            assert 'class="flash' not in shown.text


def test_an_actions_message_is_shown_once_and_not_on_reload(client: TestClient, world: World) -> None:
    sign_in(client, "flash.admin")
    page = f"/console/customers/{world.customer_id}"
    csrf = csrf_of(client.get(page).text)
    refused = client.post(f"{page}/reveal", data={"csrf": csrf, "reason": "no"}, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == page  # nothing in the URL
    first = client.get(page)
    assert 'class="flash err"' in first.text and "say why you need to see it" in first.text
    reload = client.get(page)
    assert reload.status_code == 200 and "say why you need to see it" not in reload.text
    # signing out: the sign-in page says so, once
    out = client.post("/console/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert 'class="flash ok" role="status">signed out<' in client.get("/console/login").text
    assert "signed out" not in client.get("/console/login").text


def test_one_browsers_message_is_not_shown_to_another(world: World) -> None:
    app = create_app(world.platform)
    with (
        TestClient(app, base_url="http://127.0.0.1") as mine,
        TestClient(app, base_url="http://127.0.0.1") as theirs,
    ):
        sign_in(mine, "flash.admin")
        sign_in(theirs, "flash.admin")  # the same member of staff, in another browser
        page = f"/console/customers/{world.customer_id}"
        csrf = csrf_of(mine.get(page).text)
        mine.post(f"{page}/reveal", data={"csrf": csrf, "reason": "no"}, follow_redirects=False)
        assert "say why you need to see it" not in theirs.get(page).text
        assert "say why you need to see it" in mine.get(page).text
