"""Rule hit counts and outcomes per rule-set version, as an analyst lists them."""

from __future__ import annotations

import pytest

from bnpl.domain.errors import Forbidden
from bnpl.runtime import ADMIN, Platform
from bnpl.services import rule_stats
from tests.services.test_risk_decisions import checkout
from tests.world import World


def test_hits_and_outcomes_per_version(platform: Platform) -> None:
    w = World.create(platform, limit=10_000_00)
    for _ in range(4):  # four accounts on one device are fine; the fifth new one goes to review
        checkout(w, w.new_customer(), 10_00, device="dev-1")
    checkout(w, w.new_customer(), 10_00, device="dev-1")
    checkout(w, w.customer_id, 4000_00, category="phones")  # resale goods over the cap: declined
    checkout(w, w.customer_id, 100_00)
    with platform.read(ADMIN) as c:
        (stats,) = rule_stats.rule_stats(c)
    assert stats["rules_version"].startswith("default-") and stats["decisions"] == 7
    assert stats["outcomes"] == {"approve": 5, "decline": 1, "review": 1}
    by_rule = {r["rule_id"]: r for r in stats["rules"]}
    assert by_rule["shared-device"]["hits"] == 1 and by_rule["shared-device"]["outcomes"] == {"review": 1}
    assert by_rule["resale-goods-high-value"]["outcomes"] == {"decline": 1}
    assert by_rule["resale-goods-high-value"]["hit_rate"] == round(1 / 7, 6)
    with platform.read(ADMIN) as c:
        assert rule_stats.rule_stats(c, since=platform.clock.today().replace(year=2100)) == []
    with platform.read(w.merchant) as c, pytest.raises(Forbidden):
        rule_stats.rule_stats(c)
