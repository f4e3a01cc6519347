"""Upgrading a database that holds personal data in plain text (schema 0006) seals it: phones and
addresses opened only through the key ring, order addresses keyed as a checkout now keys them, no
CSRF token kept, and a recorded field visit still frozen. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, Table, inspect, select, text

from bnpl.runtime import ADMIN, Settings
from bnpl.services import parties
from bnpl.services.boot import open_platform
from bnpl.services.idempotency import SHOWN_ONCE
from bnpl.store.db import make_engine
from bnpl.store.migrate import alembic_config, upgrade
from bnpl.store.tables import customers, decisions, field_visits, idempotency_keys, metadata, orders
from tests.conftest import BACKENDS, PG_URL

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)
DAY = date(2026, 3, 2)
PHONE, ADDRESS = "+86 138 0000 4242", "Room 7, 3 Migration Road"


@pytest.fixture(params=BACKENDS)
def old_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh database migrated only up to 0006."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        upgrade(engine, revision="0006")
        yield engine
        engine.dispose()
        return
    assert PG_URL
    schema = f"bnpl_mig_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = make_engine(PG_URL, schema=schema)
    upgrade(engine, revision="0006")
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


def plain_book(engine: Engine) -> None:
    """What a 0006 database held: two customers (one without contact details), an order to a plain
    delivery address with its decision, a field visit on record, a console session."""
    person = {"timezone": "Asia/Shanghai", "created_at": NOW, "language": "zh-CN"}
    inputs = {"address_hash": "3 Migration Road", "device_id": "d1", "signals": {"amount": 1}}
    order = {
        "currency": "CNY",
        "returned_amount": 0,
        "pending_return_amount": 0,
        "plan_code": "pay_after_trial",
        "fee_payer": "customer",
        "channel": "mall",
        "mdr_bps": 100,
        "trial_days": 7,
        "settlement_delay_days": 3,
        "mdr_amount": 0,
        "merchant_fee": 0,
        "authorized_on": DAY,
        "expires_on": DAY,
        "delivery_assumed": 0,
        "created_at": NOW,
    }
    rows: list[tuple[str, dict[str, Any]]] = [
        ("customers", {"id": 1, "name": "A", **person, "phone": PHONE, "address": ADDRESS}),
        ("customers", {"id": 2, "name": "B", **person}),
        (
            "merchants",
            {
                "id": 1,
                "name": "M",
                "mdr_bps": 100,
                "trial_days": 7,
                "settlement_delay_days": 3,
                "categories": ["tea"],
                "created_at": NOW,
            },
        ),
        (
            "decisions",
            {
                "id": 1,
                "customer_id": 1,
                "merchant_id": 1,
                "amount": 100,
                "outcome": "approve",
                "approved_amount": 100,
                "reasons": [],
                "inputs": inputs,
                "versions": {},
                "business_date": DAY,
                "created_at": NOW,
            },
        ),
        (
            "orders",
            {
                "id": 1,
                "merchant_id": 1,
                "customer_id": 1,
                "decision_id": 1,
                "status": "authorized",
                "amount": 100,
                "address_hash": "3 Migration Road",
                **order,
            },
        ),
        (
            "collection_agents",
            {"id": 1, "name": "Ann", "role": "agent", "skills": [], "active": 1, "created_at": NOW},
        ),
        (
            "collection_cases",
            {
                "id": 1,
                "customer_id": 1,
                "status": "open",
                "bucket": "M2",
                "segment": "new",
                "dpd": 40,
                "overdue_amount": 100,
                "opened_on": DAY,
                "updated_on": DAY,
            },
        ),
        (
            "field_visits",
            {
                "id": 1,
                "case_id": 1,
                "customer_id": 1,
                "status": "done",
                "requested_by": 1,
                "requested_on": DAY,
                "reason": "r",
                "address": ADDRESS,
                "outcome": "met",
            },
        ),
        (
            "idempotency_keys",
            {
                "scope": "admin",
                "key": "k-1",
                "request_hash": "0" * 64,
                "status_code": 201,
                "response": {"id": 1, "name": "M", "api_key": "mk_plain-key-kept-for-replays"},
                "created_at": NOW,
            },
        ),
        (
            "staff_users",
            {
                "id": 1,
                "username": "ana",
                "password_hash": "x",
                "role": "admin",
                "active": 1,
                "created_at": NOW,
            },
        ),
        (
            "staff_sessions",
            {
                "id": 1,
                "token_hash": "h" * 64,
                "user_id": 1,
                "csrf": "plain-csrf-token",
                "created_at": NOW,
                "expires_at": NOW + timedelta(hours=10),
            },
        ),
    ]
    with engine.begin() as conn:
        old = MetaData()
        for name, row in rows:  # the tables as 0006 made them, not as the code declares them now
            conn.execute(Table(name, old, autoload_with=conn, extend_existing=True).insert().values(**row))


def test_upgrading_seals_what_was_plain(old_engine: Engine) -> None:
    plain_book(old_engine)
    upgrade(old_engine)
    platform = open_platform(Settings(database_url=str(old_engine.url)), engine=old_engine)
    keys = platform.settings.keys
    with platform.read(ADMIN) as ctx:
        assert parties.contact_of(ctx, 1) == parties.Contact(PHONE, ADDRESS)
        assert parties.contact_of(ctx, 2) == parties.Contact(None, None)
    assert platform.run(ADMIN, lambda c: parties.find_customers(c, phone="+8613800004242")) == [1]
    with old_engine.connect() as conn:
        visit = conn.execute(select(field_visits.c.address_enc)).scalar_one()
        assert keys.open(visit, "field_visits", "address_enc", 1) == ADDRESS
        keyed = keys.lookup("address", "3 Migration Road")
        assert conn.execute(select(orders.c.address_hash)).scalar_one() == keyed
        inputs = conn.execute(select(decisions.c.inputs)).scalar_one()
        assert (
            inputs["address_hash"] == keyed
            and inputs["device_id"] == "d1"
            and inputs["signals"] == {"amount": 1}
        )
        dump = "\n".join(repr(tuple(r)) for t in metadata.sorted_tables for r in conn.execute(select(t)))
    for plain in ("4242", "Migration Road", "plain-csrf-token", "mk_plain-key"):
        assert plain not in dump
    with old_engine.connect() as conn:
        replay = conn.execute(select(idempotency_keys.c.response)).scalar_one()
    assert replay == {"id": 1, "name": "M", "api_key": None, "api_key_shown": SHOWN_ONCE}
    columns = {
        t: {c["name"] for c in inspect(old_engine).get_columns(t)} for t in ("customers", "staff_sessions")
    }
    assert not {"phone", "address"} & columns["customers"] and "csrf" not in columns["staff_sessions"]
    with pytest.raises(Exception, match=r"cannot change|on record"), old_engine.begin() as conn:
        conn.execute(text("UPDATE field_visits SET outcome = 'refused'"))
    with old_engine.begin() as conn:  # and its sealed address alone may be resealed (key rotation)
        conn.execute(
            field_visits.update().values(address_enc=keys.seal("x", "field_visits", "address_enc", 1))
        )
    with old_engine.connect() as conn:
        resealed = conn.execute(select(field_visits.c.address_enc)).scalar_one()
    assert keys.open(resealed, "field_visits", "address_enc", 1) == "x"


def test_downgrading_opens_the_values_again(old_engine: Engine) -> None:
    plain_book(old_engine)
    upgrade(old_engine)
    cfg = alembic_config(old_engine)
    with old_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    with old_engine.connect() as conn:
        people = conn.execute(text("SELECT id, phone, address FROM customers ORDER BY id")).all()
        visit = conn.execute(text("SELECT address FROM field_visits")).scalar_one()
        csrf = conn.execute(text("SELECT csrf FROM staff_sessions")).scalar_one()
    assert [tuple(p) for p in people] == [(1, PHONE, ADDRESS), (2, None, None)]
    assert visit == ADDRESS and len(csrf) > 20
    with pytest.raises(Exception, match=r"cannot change|on record"), old_engine.begin() as conn:
        conn.execute(text("UPDATE field_visits SET address = 'elsewhere'"))
    upgrade(old_engine)  # and up again
    with old_engine.connect() as conn:
        assert conn.execute(select(customers.c.phone_hmac).where(customers.c.id == 1)).scalar_one()
