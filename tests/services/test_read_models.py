"""The console's lists of a merchant's orders and returns go through the order views' one
visibility rule: a merchant sees its own, whichever merchant it names; staff see any."""

from __future__ import annotations

import pytest

from bnpl.domain.errors import Forbidden
from bnpl.runtime import ADMIN, Actor, Platform
from bnpl.services import orders
from tests.world import World


def test_a_merchant_lists_only_its_own_orders_and_returns(platform: Platform) -> None:
    mine, theirs = World.create(platform), World.create(platform)
    my_order = mine.buy(("cup", 100_00, 1), ("pot", 200_00, 1))
    their_order = theirs.buy(("tea", 50_00, 2))
    my_return = mine.return_items(my_order, {"cup": 1})
    their_return = theirs.return_items(their_order, {"tea": 1})

    with platform.read(mine.merchant) as c:
        # naming the other merchant changes nothing: a merchant is narrowed to its own orders
        listed = [[r["id"] for r in orders.order_rows(c, merchant_id=m)] for m in (None, theirs.merchant_id)]
        returned = orders.return_rows(c, merchant_id=theirs.merchant_id)
    assert listed == [[my_order], [my_order]]
    assert [(r["id"], r["order_id"], r["order_amount"]) for r in returned] == [(my_return, my_order, 300_00)]

    with platform.read(ADMIN) as c:
        assert [r["id"] for r in orders.order_rows(c)] == [their_order, my_order]
        assert [r["id"] for r in orders.return_rows(c, merchant_id=theirs.merchant_id)] == [their_return]
    with platform.read(theirs.customer) as c:
        assert [r["id"] for r in orders.return_rows(c)] == [their_return]
    with platform.read(Actor("supervisor", 1)) as c:  # not a role that reads orders: refused outright
        with pytest.raises(Forbidden):
            orders.order_rows(c)
        with pytest.raises(Forbidden):
            orders.return_rows(c)
