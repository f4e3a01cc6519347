"""Every signal a checkout gathers has the CEL type its rules are checked against at load, on both
databases: a declared type that the gathered value does not match would make a rule that loads
cleanly fail at every checkout."""

from __future__ import annotations

from sqlalchemy import select

from bnpl.domain.orders import Item
from bnpl.risk.rules import load_rules
from bnpl.risk.signals import SIGNAL_NAMES, SIGNAL_TYPES
from bnpl.runtime import Platform
from bnpl.services import orders
from bnpl.store.tables import decisions
from tests.world import World


def test_each_gathered_signal_fits_its_declared_type(platform: Platform) -> None:
    assert set(SIGNAL_TYPES) == SIGNAL_NAMES
    # one shadow rule per signal, true for any value of the declared type: it fires unless CEL
    # refuses the value it is given
    rules = "".join(
        f"  - {{id: r{i}, when: '{name} == {name}', action: review, reason: R, mode: shadow}}\n"
        for i, name in enumerate(sorted(SIGNAL_TYPES))
    )
    platform.rules = load_rules(f"version: all-signals\nrules:\n{rules}", SIGNAL_TYPES)
    assert platform.rules.names == SIGNAL_NAMES
    w = World.create(platform, limit=1000_00)
    for device, address in ((None, None), ("dev-1", "addr-1")):  # with and without the shared keys
        cmd = orders.AuthorizeCommand(
            w.merchant_id,
            w.customer_id,
            [Item("sku", "phones", 10_00, 1)],
            device_id=device,
            address_hash=address,
        )
        order = platform.run(w.merchant, lambda c, cmd=cmd: orders.authorize(c, cmd))
        with platform.read() as c:
            hits = c.conn.execute(
                select(decisions.c.rule_hits).where(decisions.c.id == order["decision"]["id"])
            ).scalar_one()
        assert hits["errors"] == []
        assert len(hits["hits"]) == len(SIGNAL_TYPES)
        assert w.order(order["id"])["status"] == "authorized"  # shadow rules only
