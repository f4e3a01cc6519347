"""A console world: a short simulated season (real orders, decisions, cases, contacts and end-of-day
snapshots, all made through the services), plus one member of staff for every role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bnpl.app import create_app
from bnpl.runtime import ADMIN, Platform, Settings
from bnpl.services.boot import open_platform
from bnpl.services.staff import one_per_role
from bnpl.sim.engine import DB_NAME, SimClock, SimConfig, Simulation, champion_model
from bnpl.sim.policy import load_policy
from bnpl.store.tables import collection_agents, collection_cases, orders

PASSWORD = "a-long-test-password"
VISIT_MIN = 10_000
LANDING = {  # where each role lands after signing in: the page's heading
    "admin": "Portfolio",
    "risk_analyst": "Portfolio",
    "supervisor": "Supervisor",
    "agent": "My queue",
    "field_agent": "My visits",
    "merchant": "Your orders",
}
CONFIG = SimConfig(customers=700, days=48, seed=5)


@dataclass
class ConsoleWorld:
    url: str
    clock: SimClock
    settings: Settings
    users: dict[str, str]  # role -> username
    agent_id: int
    case_id: int  # an open case of that agent's
    merchant_id: int
    other_order: int  # an order of another merchant

    def platform(self) -> Platform:
        return open_platform(self.settings, clock=self.clock)


@pytest.fixture(scope="session")
def console_world(tmp_path_factory: pytest.TempPathFactory) -> ConsoleWorld:
    out = tmp_path_factory.mktemp("console-world")
    # the platform without the marketplace feed: a short season whose thin files make overdue
    # cases in every bucket the console's pages need (the feed's decisions have their own tests)
    policy = load_policy("no-feed")
    sim = Simulation(CONFIG, policy, out, champion_model(CONFIG.seed, policy.marketplace_feed))
    sim.run()
    sim.platform.dispose()
    last = CONFIG.start + timedelta(days=CONFIG.days - 1)
    clock = SimClock(last)
    clock.set_time(last, 2)  # 10:00 in Shanghai: inside contact hours
    # visits from 100 yuan overdue, so a short season has a case a visit can be asked for
    visits = replace(policy.collections, visit_min_balance=VISIT_MIN)
    # the clock stands still at 10:00, so every sign-in of the session falls in one throttle window:
    # room for all of them (the throttles have their own tests)
    settings = Settings(
        database_url=f"sqlite:///{out / DB_NAME}",
        collections=visits,
        sign_ins_per_minute_per_source=10_000,
        sign_ins_per_minute=10_000,
    )
    platform = open_platform(settings, clock=clock)
    with platform.read() as ctx:
        a = collection_agents.c
        agents = {r.role: r.id for r in ctx.conn.execute(select(a.id, a.role).order_by(a.id.desc()))}
        c = collection_cases.c
        case = ctx.conn.execute(
            select(c.id, c.agent_id)
            .where(c.status == "open", c.agent_id.is_not(None))
            .order_by(c.dpd.desc(), c.id)
        ).first()
        assert case is not None, "the season left no open case: pick another seed"
        merchant_id, _first = ctx.conn.execute(
            select(orders.c.merchant_id, orders.c.id).order_by(orders.c.id)
        ).first() or (0, 0)
        other_order = ctx.conn.execute(
            select(orders.c.id).where(orders.c.merchant_id != merchant_id).order_by(orders.c.id)
        ).scalar()
    users = platform.run(
        ADMIN,
        lambda ctx: one_per_role(
            ctx,
            "{role}.one",
            PASSWORD,
            case.agent_id,
            agents["supervisor"],
            agents["field_agent"],
            merchant_id,
        ),
    )
    platform.dispose()
    return ConsoleWorld(
        url=settings.database_url,
        clock=clock,
        settings=settings,
        users=users,
        agent_id=case.agent_id,
        case_id=case.id,
        merchant_id=merchant_id,
        other_order=int(other_order),
    )


@pytest.fixture
def client(console_world: ConsoleWorld) -> Iterator[TestClient]:
    platform = console_world.platform()
    with TestClient(create_app(platform), base_url="http://127.0.0.1") as c:
        yield c
    platform.dispose()


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    page = client.get("/console/login")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf": csrf},
        follow_redirects=False,
    )


def csrf_of(html: str) -> str:
    return html.split('name="csrf" value="')[1].split('"')[0]
