"""What a new user found in their first hour with the console, each kept fixed: the dashboard's
headline figures say what they are, a customer without a champion score says so, the case page
shows contact times in the customer's local time, the decisions list is paged and compact, and
lists of customers show masked names beside their numbers."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bnpl.domain.money import format_fen
from bnpl.store.tables import obligations, orders
from tests.console.conftest import ConsoleWorld, sign_in


def _kpi(html: str, label_start: str) -> str:
    found = re.search(r'<div class="v">([^<]*)</div><div class="l">' + re.escape(label_start), html)
    assert found, label_start
    return found.group(1)


def test_the_dashboard_shows_what_was_shipped_and_what_is_owed(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    today = console_world.clock.today()
    platform = console_world.platform()
    with platform.read() as ctx:
        o = orders.c
        shipped = ctx.conn.execute(
            select(func.sum(o.amount)).where(
                o.captured_on >= today - timedelta(days=29), o.captured_on <= today
            )
        ).scalar_one()
        b = obligations.c
        principal, fee = ctx.conn.execute(
            select(func.sum(b.principal - b.principal_paid), func.sum(b.fee - b.fee_paid)).where(
                b.status == "open"
            )
        ).one()
    platform.dispose()
    sign_in(client, console_world.users["risk_analyst"])
    page = client.get("/console/dashboard").text
    # was the net movement of the receivables: repayments pushed it below zero
    assert shipped > 0 and _kpi(page, "shipped on credit, 30 days") == format_fen(shipped)
    assert _kpi(page, "outstanding principal") == format_fen(principal)
    assert _kpi(page, "outstanding fees") == format_fen(fee)
    assert _kpi(page, "outstanding total") == format_fen(principal + fee)
