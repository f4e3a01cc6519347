"""The console over HTTP (no browser): sign-in, sessions and CSRF, roles, masked personal data and
its audited reveal, the contact policy's refusals shown on the page, merchant isolation, audit."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from bnpl.services.context import ADMIN
from bnpl.store.tables import audit_log, collection_cases, contact_attempts, customers, staff_sessions
from tests.console.conftest import ConsoleWorld, csrf_of, sign_in


def test_a_wrong_password_signs_nobody_in_and_is_audited(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    response = sign_in(client, console_world.users["agent"], "not-the-password")
    assert response.status_code == 303 and "error=" in response.headers["location"]
    assert client.get("/console/queue", follow_redirects=False).headers["location"] == "/console/login"
    platform = console_world.platform()
    with platform.read() as ctx:
        actions = list(
            ctx.conn.execute(
                select(audit_log.c.action).where(audit_log.c.stream == "staff:agent.one")
            ).scalars()
        )
    platform.dispose()
    assert "staff.sign_in_failed" in actions


def test_the_session_cookie_is_http_only_strict_and_only_its_hash_is_stored(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    response = sign_in(client, console_world.users["risk_analyst"])
    assert response.status_code == 303 and response.headers["location"] == "/console/dashboard"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    token = client.cookies["bnpl_console"]
    platform = console_world.platform()
    with platform.read() as ctx:
        stored = list(ctx.conn.execute(select(staff_sessions.c.token_hash)).scalars())
    platform.dispose()
    assert token not in stored and len(stored) >= 1


def test_every_role_lands_on_its_page_and_is_kept_out_of_others(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    landing = {
        "admin": "Portfolio",
        "risk_analyst": "Portfolio",
        "supervisor": "Supervisor",
        "agent": "My queue",
        "field_agent": "My visits",
        "merchant": "Your orders",
    }
    for role, heading in landing.items():
        client.cookies.clear()
        assert sign_in(client, console_world.users[role]).status_code == 303
        page = client.get("/console")
        assert page.status_code == 200 and heading in page.text, role
    # a merchant user sees none of the staff pages
    for path in ("/console/dashboard", "/console/risk/decisions", "/console/queue", "/console/customers/1"):
        assert client.get(path).status_code in (403, 404), path


def test_a_form_without_its_csrf_token_changes_nothing(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    sign_in(client, console_world.users["agent"])
    before = _count(console_world, contact_attempts)
    response = client.post(
        f"/console/cases/{console_world.case_id}/contact",
        data={"template": "collect_sms", "outcome": "sent", "csrf": "forged"},
    )
    assert response.status_code == 403 and "form expired" in response.text
    assert _count(console_world, contact_attempts) == before


def test_personal_data_is_masked_and_revealed_only_for_a_reason_which_is_audited(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    sign_in(client, console_world.users["risk_analyst"])
    platform = console_world.platform()
    with platform.read() as ctx:
        customer_id = ctx.conn.execute(
            select(collection_cases.c.customer_id).where(collection_cases.c.id == console_world.case_id)
        ).scalar_one()
        phone = ctx.conn.execute(select(customers.c.phone).where(customers.c.id == customer_id)).scalar_one()
    page = client.get(f"/console/customers/{customer_id}")
    assert page.status_code == 200 and phone not in page.text and "Reveal" in page.text
    csrf = csrf_of(page.text)
    refused = client.post(f"/console/customers/{customer_id}/reveal", data={"csrf": csrf, "reason": ""})
    assert phone not in refused.text and "say why" in refused.text
    shown = client.post(
        f"/console/customers/{customer_id}/reveal", data={"csrf": csrf, "reason": "customer called to update"}
    )
    assert shown.status_code == 200 and phone in shown.text
    with platform.read() as ctx:
        record = ctx.conn.execute(
            select(audit_log.c.after).where(
                audit_log.c.stream == "staff:risk_analyst.one", audit_log.c.action == "pii.revealed"
            )
        ).scalar_one()
    platform.dispose()
    assert record["reason"] == "customer called to update" and record["role"] == "risk_analyst"


def test_the_contact_policy_speaks_on_the_case_page(client: TestClient, console_world: ConsoleWorld) -> None:
    sign_in(client, console_world.users["agent"])
    case = client.get(f"/console/cases/{console_world.case_id}")
    assert case.status_code == 200
    csrf = csrf_of(case.text)
    # a conversation today, then a second call: the policy blocks it (7 days after a conversation)
    first = client.post(
        f"/console/cases/{console_world.case_id}/contact",
        data={"template": "collect_call", "outcome": "reached", "csrf": csrf},
    )
    assert first.status_code == 200
    second = client.post(
        f"/console/cases/{console_world.case_id}/contact",
        data={"template": "collect_call", "outcome": "reached", "csrf": csrf},
    )
    assert "Blocked by the contact policy" in second.text
    check = client.get(f"/console/cases/{console_world.case_id}?template=collect_call")
    assert 'id="policy-check"' in check.text and "Blocked" in check.text


def test_a_merchant_cannot_open_another_merchants_order(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    sign_in(client, console_world.users["merchant"])
    assert client.get(f"/console/merchant/orders/{console_world.other_order}").status_code == 404
    mine = client.get("/console/merchant/orders")
    assert (
        mine.status_code == 200 and f'/console/merchant/orders/{console_world.other_order}"' not in mine.text
    )


def test_the_dashboard_shows_the_snapshots(client: TestClient, console_world: ConsoleWorld) -> None:
    sign_in(client, console_world.users["admin"])
    page = client.get("/console/dashboard")
    assert page.status_code == 200
    assert "48 end-of-day snapshots" in page.text and page.text.count("<svg") == 4


def _count(world: ConsoleWorld, table: object) -> int:
    from sqlalchemy import func

    platform = world.platform()
    with platform.read(ADMIN) as ctx:
        n = int(ctx.conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]
    platform.dispose()
    return n
