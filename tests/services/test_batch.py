"""Batched checkout: many authorizations, or captures, in one transaction decide exactly as the same
requests one by one, and one bad request never fails the others."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnpl.domain.errors import DomainError, NotFound
from bnpl.domain.orders import Item
from bnpl.runtime import ADMIN, Actor, Platform
from bnpl.services import audit, checks, idempotency, orders, parties


def _world(platform: Platform, customers: int, limit: int) -> tuple[int, list[int]]:
    m = platform.run(ADMIN, lambda c: parties.create_merchant(c, "Live", 60, 7, 3, ["tea", "phones"]))
    cids = [
        platform.run(ADMIN, lambda c: parties.create_customer(c, "C", limit))["id"] for _ in range(customers)
    ]
    return m["id"], cids


def _shape(result: Any) -> Any:
    """What must agree between a batch and one-by-one: the outcome, the amount and the reasons."""
    if isinstance(result, DomainError):
        return ("refused", result.code)
    return (result["status"], result["amount"], tuple(r["code"] for r in result.get("reasons") or []))


checkouts = st.lists(
    st.tuples(
        st.integers(0, 4),
        st.integers(1, 400_00),
        st.sampled_from(["pay_after_trial", "m3"]),
        st.sampled_from([None, None, "d1", "d2"]),  # a shared device: four shoppers on one is a rule
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=checkouts)
def test_a_batch_decides_as_the_same_checkouts_one_by_one(platform: Platform, plan: list[Any]) -> None:
    """Limits that run out part-way, the ninth checkout in ten minutes sent to review, a device
    shared by many shoppers: a batch's outcomes, holds and ledger are those of the same checkouts
    in a row."""
    single_m, single_c = _world(platform, 5, 1000_00)
    batch_m, batch_c = _world(platform, 5, 1000_00)

    def cmd(
        merchant: int, customer: int, price: int, plan_code: str, device: str | None
    ) -> orders.AuthorizeCommand:
        # each world its own devices: a device's counts span customers, and so would span worlds
        dev = None if device is None else f"{merchant}-{device}"
        return orders.AuthorizeCommand(
            merchant, customer, [Item("s", "tea", price, 1)], plan_code, device_id=dev
        )

    one_by_one: list[Any] = []
    for who, price, plan_code, device in plan:
        try:
            one_by_one.append(
                platform.run(
                    Actor("merchant", single_m),
                    lambda c, a=cmd(single_m, single_c[who], price, plan_code, device): orders.authorize(
                        c, a
                    ),
                )
            )
        except DomainError as exc:  # refused (too small for instalments): a refusal in the batch too
            one_by_one.append(exc)
    batch = platform.run(
        Actor("merchant", batch_m),
        lambda c: orders.authorize_many(c, [cmd(batch_m, batch_c[w], p, pc, d) for w, p, pc, d in plan]),
    )
    assert [_shape(r) for r in batch] == [_shape(r) for r in one_by_one]
    with platform.read(ADMIN) as c:
        for a, b in zip(single_c, batch_c, strict=True):
            sa, sb = parties.get_customer(c, a)["account"], parties.get_customer(c, b)["account"]
            assert (sa["holds"], sa["available"]) == (sb["holds"], sb["available"])
            assert sb["holds"] <= sb["limit"]
        assert checks.check_ledger(c)["ok"]
        assert not audit.verify(c.conn)[1]


def test_one_bad_request_never_fails_the_others(platform: Platform) -> None:
    merchant, (a, b) = _world(platform, 2, 1000_00)
    good = orders.AuthorizeCommand(merchant, a, [Item("s", "tea", 10_00, 1)])
    results = platform.run(
        Actor("merchant", merchant),
        lambda c: orders.authorize_many(
            c,
            [
                good,
                orders.AuthorizeCommand(merchant, 999_999, [Item("s", "tea", 10_00, 1)]),  # no such customer
                orders.AuthorizeCommand(merchant, b, [Item("s", "tea", 10_00, 1)], currency="USD"),
                orders.AuthorizeCommand(merchant + 1, b, [Item("s", "tea", 10_00, 1)]),  # another merchant
                orders.AuthorizeCommand(merchant, b, [Item("s", "cars", 10_00, 1)]),  # not its category
                good,
            ],
        ),
    )
    assert [r["status"] if isinstance(r, dict) else r.code for r in results] == [
        "authorized",
        "not-found",
        "currency-mismatch",
        "forbidden",
        "invalid-input",
        "authorized",
    ]
    with platform.read(ADMIN) as c:
        assert parties.get_customer(c, a)["account"]["holds"] == 20_00
        assert parties.get_customer(c, b)["account"]["holds"] == 0
        assert checks.check_ledger(c)["ok"]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prices=st.lists(st.integers(3_00, 300_00), min_size=1, max_size=8), who=st.lists(st.integers(0, 2)))
def test_captures_in_one_batch_book_what_one_by_one_books(
    platform: Platform, prices: list[int], who: list[int]
) -> None:
    merchant, cids = _world(platform, 3, 10_000_00)
    actor = Actor("merchant", merchant)
    ids = []
    for n, price in enumerate(prices):
        cid = cids[who[n] if n < len(who) else n % 3]
        cmd = orders.AuthorizeCommand(merchant, cid, [Item("s", "tea", price, 1)], "m3")
        ids.append(platform.run(actor, lambda c, cmd=cmd: orders.authorize(c, cmd))["id"])
    # every order twice, and one that does not exist: the second capture of each is refused
    results = platform.run(actor, lambda c: orders.capture_many(c, [*ids, 10**9, *ids]))
    assert all(isinstance(r, dict) and r["status"] == "captured" for r in results[: len(ids)])
    assert isinstance(results[len(ids)], NotFound)
    assert all(isinstance(r, DomainError) for r in results[len(ids) + 1 :])
    with platform.read(ADMIN) as c:
        total = sum(prices)
        owed = sum(parties.get_customer(c, cid)["account"]["outstanding"] for cid in cids)
        held = sum(parties.get_customer(c, cid)["account"]["holds"] for cid in cids)
        assert (owed, held) == (total, 0)
        assert checks.check_ledger(c)["ok"]
        assert not audit.verify(c.conn)[1]


def test_each_request_keeps_its_idempotency_key(platform: Platform) -> None:
    merchant, (a, b) = _world(platform, 2, 100_00)
    actor = Actor("merchant", merchant)

    def refusal(exc: DomainError) -> tuple[int, Any]:
        return exc.status, {"code": exc.code}

    def keyed(key: str, cid: int, price: int) -> orders.Keyed:
        return orders.Keyed(
            key, f"fp-{cid}-{price}", orders.AuthorizeCommand(merchant, cid, [Item("s", "tea", price, 1)])
        )

    def run(reqs: list[orders.Keyed]) -> list[orders.Answer]:
        return platform.run(
            actor, lambda c: orders.run_keyed(c, str(actor), reqs, orders.authorize_many, 201, refusal)
        )

    first = run(
        [keyed("k1", a, 60_00), keyed("k2", 999_999, 1_00), keyed("k1", a, 60_00), keyed("k3", a, 60_00)]
    )
    assert [(x.status_code, x.replayed) for x in first] == [
        (201, False),
        (404, False),
        (201, True),
        (201, False),
    ]
    assert first[0].body["status"] == "authorized" and first[3].body["status"] == "declined"  # limit used
    assert first[2].body == first[0].body
    again = run(
        [keyed("k3", a, 60_00), keyed("k2", 999_999, 1_00), keyed("k1", b, 5_00), keyed("k4", b, 5_00)]
    )
    assert [(x.status_code, x.replayed) for x in again] == [
        (201, True),
        (404, True),
        (409, False),
        (201, False),
    ]
    assert again[0].body == first[3].body
    with platform.read(ADMIN) as c:
        assert parties.get_customer(c, a)["account"]["holds"] == 60_00
        assert parties.get_customer(c, b)["account"]["holds"] == 5_00
        stored = idempotency.lookup(c, str(actor), "k2", "fp-999999-100")
    assert stored is not None and stored.status_code == 404


def test_a_batch_that_dies_before_commit_leaves_nothing_and_can_be_sent_again(platform: Platform) -> None:
    """A crash after every checkout of a batch was decided and written, before the commit: no
    order, no hold, no audit record, no stored key; the same keys sent again decide once."""
    merchant, (a, b) = _world(platform, 2, 100_00)
    actor = Actor("merchant", merchant)
    reqs = [
        orders.Keyed(f"c{n}", f"fp{n}", orders.AuthorizeCommand(merchant, cid, [Item("s", "tea", 40_00, 1)]))
        for n, cid in enumerate([a, b, a])
    ]

    def refusal(exc: DomainError) -> tuple[int, Any]:
        return exc.status, {"code": exc.code}

    def crash(c: Any) -> None:
        orders.run_keyed(c, str(actor), reqs, orders.authorize_many, 201, refusal)
        raise RuntimeError("the process died before the commit")

    with platform.read(ADMIN) as c:
        audited = audit.verify(c.conn)[0]
    with pytest.raises(RuntimeError, match="died"):
        platform.run(actor, crash)
    with platform.read(ADMIN) as c:
        assert orders.list_orders(c) == []
        assert parties.get_customer(c, a)["account"]["holds"] == 0
        assert audit.verify(c.conn)[0] == audited
        assert idempotency.lookup(c, str(actor), "c0", "fp0") is None
    answers = platform.run(
        actor, lambda c: orders.run_keyed(c, str(actor), reqs, orders.authorize_many, 201, refusal)
    )
    assert [(x.status_code, x.replayed, x.body["status"]) for x in answers] == [
        (201, False, "authorized"),
        (201, False, "authorized"),
        (201, False, "authorized"),
    ]
    with platform.read(ADMIN) as c:
        assert parties.get_customer(c, a)["account"]["holds"] == 80_00
        assert checks.check_ledger(c)["ok"]


def test_a_device_shared_within_one_batch_is_counted_as_one_by_one(platform: Platform) -> None:
    """Six shoppers on one device in one batch: the fifth and sixth meet the shared-device rule
    (four other shoppers on it this week), as they would one by one — the batch decides a device's
    second checkout after its first is written."""
    shapes = []
    for batched in (False, True):
        merchant, cids = _world(platform, 6, 1000_00)
        cmds = [
            orders.AuthorizeCommand(
                merchant, cid, [Item("s", "tea", 10_00, 1)], device_id=f"{merchant}-phone"
            )
            for cid in cids
        ]
        actor = Actor("merchant", merchant)
        if batched:
            results = platform.run(actor, lambda c, cmds=cmds: orders.authorize_many(c, cmds))
        else:
            results = [platform.run(actor, lambda c, x=x: orders.authorize(c, x)) for x in cmds]
        shapes.append([_shape(r) for r in results])
    single, batch = shapes
    assert [s[0] for s in single] == ["authorized"] * 4 + ["review"] * 2  # the rule fired
    assert batch == single
