"""The console over HTTP (no browser): sign-in, sessions and CSRF, roles, masked personal data and
its audited reveal, the contact policy's refusals shown on the page, merchant isolation, audit."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from bnpl.app import create_app
from bnpl.runtime import ADMIN, Platform
from bnpl.services import console_flash, parties
from bnpl.services.boot import open_platform
from bnpl.services.staff import create_staff
from bnpl.sim.engine import SimClock
from bnpl.store.tables import (
    audit_log,
    collection_agents,
    collection_cases,
    contact_attempts,
    field_visits,
    hardship_plans,
    staff_sessions,
)
from tests.console.conftest import LANDING, PASSWORD, VISIT_MIN, ConsoleWorld, csrf_of, sign_in


def test_a_wrong_password_signs_nobody_in_and_is_audited(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    response = sign_in(client, console_world.users["agent"], "not-the-password")
    assert response.status_code == 200 and "wrong username or password" in response.text
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


def test_the_database_keeps_neither_the_session_token_nor_its_csrf_token(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    sign_in(client, console_world.users["supervisor"])
    token = client.cookies["bnpl_console"]
    page = client.get(f"/console/cases/{console_world.case_id}")
    csrf = csrf_of(page.text)
    assert page.status_code == 200 and len(csrf) > 20
    platform = console_world.platform()
    with platform.read() as ctx:
        sessions = " ".join(repr(tuple(r)) for r in ctx.conn.execute(select(staff_sessions)))
    platform.dispose()
    assert token not in sessions and csrf not in sessions
    again = client.get(f"/console/cases/{console_world.case_id}").text
    assert csrf_of(again) == csrf  # one token for the session's forms, made again on each request


def test_staff_find_a_customer_by_phone_number_through_its_keyed_hash(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    sign_in(client, console_world.users["risk_analyst"])
    platform = console_world.platform()
    with platform.read() as ctx:
        customer_id = ctx.conn.execute(
            select(collection_cases.c.customer_id).where(collection_cases.c.id == console_world.case_id)
        ).scalar_one()
        phone = parties.contact_of(ctx, customer_id).phone
    platform.dispose()
    assert phone and " " in phone
    found = client.get("/console/customers", params={"q": phone.replace(" ", "")})  # written without spaces
    assert found.status_code == 200 and f'href="/console/customers/{customer_id}"' in found.text


def test_every_role_lands_on_its_page_and_is_kept_out_of_others(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    for role, heading in LANDING.items():
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
        phone = parties.contact_of(ctx, customer_id).phone
    assert phone
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


# --- what a security review found, each kept fixed ---------------------------------------------------


def test_everything_printed_is_escaped(client: TestClient, console_world: ConsoleWorld) -> None:
    sign_in(client, console_world.users["agent"])
    platform = console_world.platform()
    console_flash.put(platform, client.cookies["bnpl_console"], [("err", "<b>bold</b>")])
    platform.dispose()
    page = client.get("/console/queue")
    assert "&lt;b&gt;bold&lt;/b&gt;" in page.text and "<b>bold</b>" not in page.text
    case = client.get(f"/console/cases/{console_world.case_id}")
    note = '<form action="/console/cases/1/reassign">take over'
    client.post(
        f"/console/cases/{console_world.case_id}/plan",
        data={"csrf": csrf_of(case.text), "kind": "plan", "instalments": "3", "note": note},
    )
    client.cookies.clear()
    sign_in(client, console_world.users["supervisor"])
    board = client.get("/console/supervisor").text
    assert "&lt;form action=&#34;/console/cases/1/reassign&#34;&gt;take over" in board
    assert note not in board


def test_an_agent_cannot_propose_a_plan_on_someone_elses_case(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    platform = console_world.platform()
    with platform.read() as ctx:
        k = collection_cases.c
        other = ctx.conn.execute(
            select(k.id).where(k.agent_id != console_world.agent_id, k.status == "open").order_by(k.id)
        ).scalar()
    sign_in(client, console_world.users["agent"])
    csrf = csrf_of(client.get(f"/console/cases/{console_world.case_id}").text)
    if other is not None:
        before = _count(console_world, hardship_plans)
        refused = client.post(
            f"/console/cases/{other}/plan",
            data={"csrf": csrf, "kind": "plan", "instalments": "3", "note": "mine now"},
        )
        assert "not found" in refused.text and _count(console_world, hardship_plans) == before
    platform.dispose()


def test_a_supervisor_does_not_approve_their_own_proposal(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    sign_in(client, console_world.users["supervisor"])
    csrf = csrf_of(client.get(f"/console/cases/{console_world.case_id}").text)
    client.post(
        f"/console/cases/{console_world.case_id}/plan",
        data={"csrf": csrf, "kind": "plan", "instalments": "4", "note": "lost a job, four months"},
    )
    platform = console_world.platform()
    with platform.read() as ctx:
        mine = ctx.conn.execute(
            select(hardship_plans.c.id)
            .where(hardship_plans.c.proposed_by.like("supervisor:%"))
            .order_by(hardship_plans.c.id.desc())
        ).scalar_one()
    platform.dispose()
    refused = client.post(
        f"/console/plans/{mine}/decide", data={"csrf": csrf, "approve": "true", "note": "fine"}
    )
    assert "another supervisor approves" in refused.text


def test_a_visit_approval_the_contact_policy_blocks_is_not_reported_as_done(
    console_world: ConsoleWorld,
) -> None:
    night = SimClock(console_world.clock.today())
    night.set_time(console_world.clock.today(), 15)  # 23:00 in Shanghai: no notice may go out
    platform = open_platform(console_world.settings, clock=night)
    with platform.read() as ctx:
        k = collection_cases.c
        case = ctx.conn.execute(
            select(k.id).where(
                k.status == "open", k.bucket.in_(("M2", "M3", "M3+")), k.overdue_amount >= VISIT_MIN
            )
        ).scalar()
    assert case is not None
    with TestClient(create_app(platform), base_url="http://127.0.0.1") as night_client:
        sign_in(night_client, console_world.users["supervisor"])
        csrf = csrf_of(night_client.get(f"/console/cases/{case}").text)
        night_client.post(
            f"/console/cases/{case}/visit", data={"csrf": csrf, "reason": "no answer for a month"}
        )
        with platform.read() as ctx:
            visit = ctx.conn.execute(
                select(field_visits.c.id).where(
                    field_visits.c.case_id == case, field_visits.c.status == "requested"
                )
            ).scalar_one()
        slot = (console_world.clock.today() + timedelta(days=3)).isoformat() + "T10:00"
        crew = _field_agents(platform)
        page = night_client.post(
            f"/console/visits/{visit}/approve",
            data={"csrf": csrf, "agent_a": crew[0], "agent_b": crew[1], "slot": slot},
        )
        assert "Blocked by the contact policy (allowed_hours)" in page.text
        with platform.read() as ctx:
            status = ctx.conn.execute(
                select(field_visits.c.status).where(field_visits.c.id == visit)
            ).scalar_one()
            logged = ctx.conn.execute(
                select(audit_log.c.action)
                .where(audit_log.c.stream == "staff:supervisor.one")
                .order_by(audit_log.c.id.desc())
            ).scalar()
        assert status == "requested" and logged == "visit.approved.blocked"
    platform.dispose()


def test_out_of_range_ids_and_odd_digits_get_a_page_not_a_crash(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    sign_in(client, console_world.users["risk_analyst"])
    for path in (
        "/console/customers/99999999999999999999",
        "/console/risk/decisions?customer=99999999999999999999",
    ):
        page = client.get(path)
        assert page.status_code == 422 and page.headers["content-type"].startswith("text/html"), path
    assert client.get("/console/customers?q=²").status_code == 200


def test_an_agent_finds_only_the_customers_of_their_open_cases(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    sign_in(client, console_world.users["agent"])
    everyone = client.get("/console/customers?q=%").text
    assert "/console/customers/" not in everyone.split("<tbody>")[1]  # % is a percent sign, not "anything"
    platform = console_world.platform()
    with platform.read() as ctx:
        k = collection_cases.c
        mine = set(
            ctx.conn.execute(
                select(k.customer_id).where(k.agent_id == console_world.agent_id, k.status == "open")
            ).scalars()
        )
        closed = ctx.conn.execute(
            select(k.customer_id).where(
                k.agent_id == console_world.agent_id, k.status == "closed", k.customer_id.not_in(mine)
            )
        ).scalar()
    platform.dispose()
    listed = client.get("/console/customers?q=Shopper").text
    shown = {int(x.split('"')[0]) for x in listed.split('href="/console/customers/')[1:]}
    assert shown and shown <= mine
    if closed is not None:  # a case closed is no reason to look any more
        assert client.get(f"/console/customers/{closed}").status_code == 404


def test_sign_in_pauses_after_five_wrong_passwords(client: TestClient, console_world: ConsoleWorld) -> None:
    platform = console_world.platform()
    platform.run(ADMIN, lambda ctx: create_staff(ctx, "guessed.one", PASSWORD, "risk_analyst"))
    for _ in range(5):
        assert "wrong username or password" in sign_in(client, "guessed.one", "wrong-password-here").text
    assert "wrong username or password" in sign_in(client, "guessed.one").text  # even the right one, for now
    with platform.read() as ctx:
        last = ctx.conn.execute(
            select(audit_log.c.action)
            .where(audit_log.c.stream == "staff:guessed.one")
            .order_by(audit_log.c.id.desc())
        ).scalar()
    platform.dispose()
    assert last == "staff.sign_in_throttled"


def _field_agents(platform: Platform) -> list[int]:
    with platform.read() as ctx:
        return list(
            ctx.conn.execute(
                select(collection_agents.c.id).where(collection_agents.c.role == "field_agent")
            ).scalars()
        )
