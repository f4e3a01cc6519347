"""Phone numbers and addresses sealed at rest, on SQLite and PostgreSQL: what the rows hold, key
rotation and `reencrypt` (a recorded field visit included), tampering, and the look-ups and risk
signals that work on keyed hashes alone."""

from __future__ import annotations

import dataclasses
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import select, text

from bnpl.collections import visits
from bnpl.domain.errors import Forbidden, InvalidInput
from bnpl.domain.orders import Item
from bnpl.runtime import ADMIN, Actor, Platform
from bnpl.services import data_keys, orders, parties
from bnpl.services.boot import open_platform
from bnpl.store.crypto import Unreadable, key_id_of, new_data_key
from bnpl.store.tables import SEALED_COLUMNS, customers, decisions, field_visits
from bnpl.store.tables import orders as orders_table
from tests.collections.test_work import ALL_YES, overdue_case
from tests.world import World

NEW = new_data_key("k2")


def with_keys(platform: Platform, data_keys: str) -> Platform:
    """The same database and clock, under another key ring."""
    settings = dataclasses.replace(platform.settings, data_keys=data_keys)
    return open_platform(settings, clock=platform.clock, engine=platform.engine)


def sealed_values(platform: Platform) -> list[str]:
    with platform.engine.connect() as conn:
        return [
            v
            for table, name in SEALED_COLUMNS
            for v in conn.execute(select(table.c[name]).where(table.c[name].is_not(None))).scalars()
        ]


def customer(platform: Platform, phone: str | None, address: str | None, name: str = "Shopper") -> int:
    made = platform.run(
        ADMIN, lambda c: parties.create_customer(c, name, 1000_00, phone=phone, address=address)
    )
    return int(made["id"])


def test_rows_hold_sealed_values_and_keyed_hashes_only(platform: Platform) -> None:
    cid = customer(platform, "+86 139 0000 1111", "Room 3, 5 Sealed Street")
    with platform.engine.connect() as conn:
        row = conn.execute(select(customers).where(customers.c.id == cid)).one()
    assert "00001111" not in str(tuple(row)) and "Sealed Street" not in str(tuple(row))
    assert key_id_of(row.phone_enc) == "dev" and len(row.phone_hmac) == 64
    with platform.read(ADMIN) as ctx:
        assert parties.contact_of(ctx, cid) == parties.Contact("+86 139 0000 1111", "Room 3, 5 Sealed Street")
    nobody = customer(platform, None, None)
    with platform.engine.connect() as conn:
        empty = conn.execute(select(customers).where(customers.c.id == nobody)).one()
    assert (empty.phone_enc, empty.address_enc, empty.phone_hmac, empty.address_hmac) == (None,) * 4


@pytest.mark.forward_dates  # skips days to save time
def test_rotation_old_rows_still_read_and_reencrypt_moves_them_to_the_new_key(platform: Platform) -> None:
    w, case_id, team = overdue_case(platform, 45)  # with a registered address, in M2
    v = platform.run(ADMIN, lambda c: visits.request_visit(c, case_id, team["agent"], "no answer"))
    slot = datetime.combine(platform.clock.today() + timedelta(days=3), time(10))
    fa, fb = team["field"]
    platform.run(ADMIN, lambda c: visits.approve_visit(c, v["id"], team["supervisor"], fa, fb, slot))
    platform.clock.advance(3)  # type: ignore[attr-defined]
    platform.run(ADMIN, lambda c: visits.record_outcome(c, v["id"], fa, "met", ALL_YES))  # now on record
    others = [customer(platform, f"1380000000{i}", f"Road {i}") for i in range(3)]
    before = {
        i: platform.run(ADMIN, lambda c, i=i: parties.contact_of(c, i)) for i in [w.customer_id, *others]
    }
    assert {key_id_of(s) for s in sealed_values(platform)} == {"dev"}

    rotated = with_keys(platform, f"{NEW},{platform.settings.data_keys}")
    for i, contact in before.items():  # the old key still opens what it sealed
        assert rotated.run(ADMIN, lambda c, i=i: parties.contact_of(c, i)) == contact
    assert rotated.run(ADMIN, data_keys.pending) == 2 * 4 + 1  # 4 customers' phone and address, 1 visit
    moved: list[int] = []
    assert data_keys.reencrypt(rotated, size=2, progress=moved.append) == 9
    assert sum(moved) == 9
    assert {key_id_of(s) for s in sealed_values(platform)} == {"k2"}
    assert rotated.run(ADMIN, data_keys.usage)["field_visits.address_enc"] == {"k2": 1}
    assert rotated.run(ADMIN, data_keys.pending) == 0
    assert data_keys.reencrypt(rotated) == 0  # nothing left: a second run changes nothing

    only_new = with_keys(platform, NEW)  # the old key may go now
    for i, contact in before.items():
        assert only_new.run(ADMIN, lambda c, i=i: parties.contact_of(c, i)) == contact
    with pytest.raises(Unreadable, match="not in BNPL_DATA_KEYS"):
        platform.run(ADMIN, lambda c: parties.contact_of(c, w.customer_id))
    with pytest.raises(Exception, match=r"cannot change|on record"):  # the visit is still frozen
        platform.run(ADMIN, lambda c: c.conn.execute(text("UPDATE field_visits SET outcome = 'refused'")))
    with platform.engine.connect() as conn:
        sealed = conn.execute(select(field_visits.c.address_enc).where(field_visits.c.id == v["id"])).scalar()
    assert (
        only_new.settings.keys.open(sealed, "field_visits", "address_enc", v["id"]) == "Room 1, 8 Test Road"
    )


def test_a_tampered_or_moved_value_is_refused(platform: Platform) -> None:
    a = customer(platform, "13800000001", "Road A")
    b = customer(platform, "13800000002", "Road B")
    with platform.engine.connect() as conn:
        sealed = conn.execute(select(customers.c.phone_enc).where(customers.c.id == a)).scalar_one()
    kid, _, body = sealed.partition(":")
    flipped = f"{kid}:{body[:-5]}{'A' if body[-5] != 'A' else 'B'}{body[-4:]}"
    for forged, victim in ((flipped, a), (sealed, b)):  # a changed character; a's phone copied onto b
        with platform.engine.begin() as conn:
            conn.execute(customers.update().where(customers.c.id == victim).values(phone_enc=forged))
        with pytest.raises(Unreadable, match=f"customers.phone_enc of row {victim}"):
            platform.run(ADMIN, lambda c, v=victim: parties.contact_of(c, v))


def test_equality_look_ups_work_on_the_keyed_hashes(platform: Platform) -> None:
    a = customer(platform, "+86 138-0000-0001", "Room 1, 8 Test Road")
    b = customer(platform, "+8613800000001", "room 1,  8 TEST road")
    c = customer(platform, "13900000009", "Elsewhere 2")

    def find(**given: str) -> list[int]:
        return platform.run(Actor("risk_analyst"), lambda ctx: parties.find_customers(ctx, **given))

    assert find(phone="+86 138 0000 0001") == [a, b]
    assert find(address="ROOM 1, 8 test road") == [a, b]
    assert find(phone="139 0000 0009", address="elsewhere 2") == [c]
    assert find(phone="+86 138 0000 0001", address="Elsewhere 2") == []
    with pytest.raises(InvalidInput, match="give a phone number"):
        find(phone=" ")
    with pytest.raises(Forbidden):
        platform.run(Actor("merchant", 1), lambda ctx: parties.find_customers(ctx, phone="13900000009"))
    # changing a number moves its hash too; the audit log says what changed, never the value
    changed = platform.run(ADMIN, lambda ctx: parties.set_contact(ctx, c, phone="+86 138 0000 0001"))
    assert changed["changed"] == ["phone"] and find(phone="+8613800000001") == [a, b, c]


def test_delivery_addresses_are_compared_as_keyed_hashes(platform: Platform) -> None:
    """The merchant's address (whatever its form) is stored keyed; the shared-address signals that
    find cash-out rings still count it across customers."""
    w = World.create(platform)

    def checkout(customer_id: int) -> dict[str, object]:
        cmd = orders.AuthorizeCommand(
            w.merchant_id, customer_id, [Item("tea", "tea", 10_00, 1)], address_hash="Ring Flat 4"
        )
        return platform.run(w.merchant, lambda c: orders.authorize(c, cmd))

    first, second = checkout(w.customer_id), checkout(w.new_customer())
    keyed = platform.settings.keys.lookup("address", "ring flat 4")
    with platform.engine.connect() as conn:
        stored = conn.execute(select(orders_table.c.address_hash)).scalars().all()
        inputs = conn.execute(select(decisions.c.inputs).order_by(decisions.c.id)).scalars().all()
    assert stored == [keyed, keyed] and [i["address_hash"] for i in inputs] == [keyed, keyed]
    assert "Ring Flat" not in str(inputs)
    signals = inputs[1]["signals"]  # the second customer's checkout sees the first one's address
    assert signals["address.present"] and signals["address.customers_7d"] == 1
    assert first["status"] == second["status"] == "authorized"
