"""End of day freezes an overdue line, unfreezes it when cured, blocks the third episode, and
leaves alone what staff did. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from bnpl.eod import run_eod
from bnpl.runtime import ADMIN, Platform
from bnpl.services import audit, credit_lines
from tests.world import World


def late_once(w: World) -> None:
    """Buy (due in 7 days), let the bill go a day overdue, run the day."""
    order_id = w.buy(("tea", 100_00, 1))
    w.platform.clock.advance(8)
    assert w.account()["state"] == "active"
    summary = run_eod(w.platform)
    assert summary["accounts"]["frozen"] + summary["accounts"]["blocked"] == 1
    w.repay(w.order(order_id)["amount"])


@pytest.mark.forward_dates  # skips days to save time
def test_freeze_cure_and_block_on_the_third_episode(platform: Platform) -> None:
    w = World.create(platform)
    late_once(w)
    assert w.account()["state"] == "frozen"
    refused = w.authorize(("tea", 10_00, 1))
    assert refused["decision"]["reasons"][0]["code"] == "ACCOUNT_FROZEN"
    assert run_eod(platform)["accounts"] == {"frozen": 0, "unfrozen": 1, "blocked": 0}
    assert run_eod(platform)["accounts"] == {"frozen": 0, "unfrozen": 0, "blocked": 0}  # idempotent
    assert w.account()["state"] == "active"

    late_once(w)
    run_eod(platform)
    assert w.account()["state"] == "active"
    late_once(w)
    assert w.account()["state"] == "blocked"
    run_eod(platform)
    assert w.account()["state"] == "blocked"  # only staff reopen a blocked line
    with platform.read() as c:
        assert not audit.verify(c.conn)[1]
    w.ledger_ok()


def test_a_line_staff_froze_stays_frozen(platform: Platform) -> None:
    w = World.create(platform)
    platform.run(ADMIN, lambda c: credit_lines.set_account(c, w.customer_id, state="frozen"))
    assert run_eod(platform)["accounts"] == {"frozen": 0, "unfrozen": 0, "blocked": 0}
    assert w.account()["state"] == "frozen"


@pytest.mark.forward_dates  # skips days to save time
def test_a_pending_return_pauses_only_the_amount_under_return(platform: Platform) -> None:
    w = World.create(platform, limit=2000_00)
    order_id = w.buy(("kettle", 900_00, 1), ("cable", 1_00, 1))
    w.return_items(order_id, {"cable": 1})  # the merchant never answers
    platform.clock.advance(60)
    run_eod(platform)
    assert w.account()["state"] == "frozen"
    refused = w.authorize(("tea", 500_00, 1))
    assert refused["decision"]["reasons"][0]["code"] == "ACCOUNT_FROZEN"
    # a return of the whole order pauses the whole bill
    w2 = World.create(platform, limit=2000_00)
    whole = w2.buy(("kettle", 900_00, 1))
    w2.return_items(whole, {"kettle": 1})
    platform.clock.advance(30)
    run_eod(platform)
    assert w2.account()["state"] == "active"


def test_a_partial_return_pauses_only_what_its_cut_from_the_tail_reaches(platform: Platform) -> None:
    from bnpl.services import credit_lines as p

    w = World.create(platform, limit=2000_00)
    order_id = w.buy(("kettle", 590_00, 1), ("cup", 310_00, 1), plan="m3")
    w.return_items(order_id, {"cup": 1})  # pending: it would cut the two bills not yet due first
    first_due = w.order(order_id)["schedule"][0]["due_date"]
    platform.clock.advance((date.fromisoformat(first_due) - platform.clock.today()).days + 10)
    with platform.read() as c:
        assert p.days_overdue(c, w.customer_id) == 10  # the first bill is overdue all the same


def test_end_of_day_cannot_go_back(platform: Platform) -> None:
    import pytest

    from bnpl.domain.errors import InvalidState

    w = World.create(platform)
    late_once(w)  # the line froze on day 8
    platform.clock.advance(-3)
    with pytest.raises(InvalidState, match="cannot run for"):
        run_eod(platform)
    assert w.account()["state"] == "frozen"
