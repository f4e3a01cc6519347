"""`account.hours_since_limit_raise`: hours since the credit limit last went up, for rules that
catch a burst of checkouts right after a raise."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bnpl.domain.orders import Item
from bnpl.risk.signals import NEVER_RAISED, hours_since
from bnpl.runtime import ADMIN, Platform
from bnpl.services import credit_lines, orders
from bnpl.services.boot import load_rule_set
from bnpl.store.tables import decisions
from tests.conftest import TimeOfDayClock
from tests.world import World


def setup(platform: Platform) -> tuple[World, TimeOfDayClock]:
    clock = TimeOfDayClock()
    platform.clock = clock
    return World.create(platform, limit=1000_00), clock


def checkout(w: World, amount: int = 10_00) -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, str]]]:
    """A checkout by the world's customer: the order, its decision's signals and rule hits."""
    cmd = orders.AuthorizeCommand(w.merchant_id, w.customer_id, [Item("sku", "tea", amount, 1)])
    order = w.platform.run(w.merchant, lambda c: orders.authorize(c, cmd))
    with w.platform.read() as c:
        row = c.conn.execute(
            select(decisions.c.inputs, decisions.c.rule_hits).where(decisions.c.id == order["decision"]["id"])
        ).one()
    hits = [(h["rule_id"], h["mode"]) for h in row.rule_hits["hits"]]
    return w.order(order["id"]), row.inputs["signals"], hits


def set_limit(w: World, limit: int) -> None:
    w.platform.run(ADMIN, lambda c: credit_lines.set_account(c, w.customer_id, credit_limit=limit))


def hours(signals: dict[str, Any]) -> Decimal:
    return Decimal(signals["account.hours_since_limit_raise"])


def test_hours_follow_a_raise_and_ignore_a_cut(platform: Platform) -> None:
    w, clock = setup(platform)
    assert hours(checkout(w)[1]) == NEVER_RAISED
    clock.set(0, 11)
    set_limit(w, 800_00)  # a cut is not a raise
    assert hours(checkout(w)[1]) == NEVER_RAISED
    clock.set(1, 10)
    set_limit(w, 2000_00)
    clock.set(1, 13, 30)
    assert hours(checkout(w)[1]) == Decimal("3.50")
    clock.set(3, 9, 20)
    assert hours(checkout(w)[1]) == Decimal("47.33")  # 47 h 20 min, rounded down
    clock.set(3, 10)
    set_limit(w, 1500_00)  # a later cut keeps the time of the last raise
    assert hours(checkout(w)[1]) == Decimal("48.00")
    clock.set(4, 10)
    set_limit(w, 3000_00)
    clock.set(4, 10, 6)
    assert hours(checkout(w)[1]) == Decimal("0.10")


def test_the_default_shadow_rule_records_a_burst_right_after_a_raise(platform: Platform) -> None:
    w, clock = setup(platform)
    clock.set(1, 9)
    set_limit(w, 2000_00)
    for minute in (0, 10, 20):
        clock.set(1, 13, minute)
        assert ("limit-raise-burst", "shadow") not in checkout(w)[2]  # fewer than three in the hour
    clock.set(1, 13, 30)
    order, signals, hits = checkout(w)
    assert signals["velocity.customer_1h"] == 3 and hours(signals) == Decimal("4.50")
    assert ("limit-raise-burst", "shadow") in hits
    assert order["status"] == "authorized"  # shadow: the outcome is unchanged


def test_a_live_rule_on_it_sends_the_burst_to_review_but_not_a_burst_days_later(
    platform: Platform, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: t-raise\nrules:\n"
        "  - {id: raise-burst, when: account.hours_since_limit_raise < 24.0 && velocity.customer_1h >= 3,"
        " action: review, reason: LIMIT_RAISE_BURST}\n"
    )
    platform.rules = load_rule_set(str(rules))
    w, clock = setup(platform)
    for minute in (0, 10, 20, 30):  # a burst without a raise: nothing
        clock.set(0, 12, minute)
        assert checkout(w)[0]["status"] == "authorized"
    clock.set(2, 9)
    set_limit(w, 3000_00)
    statuses = []
    for minute in (0, 10, 20, 30):
        clock.set(2, 12, minute)
        statuses.append(checkout(w)[0])
    assert [o["status"] for o in statuses] == ["authorized", "authorized", "authorized", "review"]
    assert [r["code"] for r in statuses[-1]["decision"]["reasons"]] == ["LIMIT_RAISE_BURST"]
    for minute in (0, 10, 20, 30):  # the same burst a day and more after the raise
        clock.set(3, 9, minute)
        assert checkout(w)[0]["status"] == "authorized"


def test_hours_since_reads_naive_timestamps_as_utc() -> None:
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    assert hours_since(None, now) == NEVER_RAISED
    assert hours_since(datetime(2026, 3, 2, 10, 30), now) == Decimal("1.50")  # SQLite: naive UTC
    assert hours_since(datetime(2026, 3, 2, 18, 30, tzinfo=UTC), now) == 0  # clock moved back
