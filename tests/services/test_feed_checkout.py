"""The marketplace feed at checkout (SQLite and PostgreSQL): a shopper new to pay-later who shares
their marketplace data is scored from the first purchase and opens a line by grade; one who withdraws
consent falls back to the starter policy at the next checkout, and the decision says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bnpl.credit.feed_features import load_feed, load_feeds
from bnpl.credit.model_features import reads_feed
from bnpl.credit.scorecard import Scorecard, fit_scorecard
from bnpl.domain.credit import CreditAssessment, CreditPolicy, Grade, first_limit
from bnpl.runtime import ADMIN, Actor, Platform
from bnpl.services import explain, marketplace, model_registry
from bnpl.sim.pilot import pilot_dataset
from bnpl.store.tables import audit_log
from tests.world import World

FEED = Actor("marketplace")


@pytest.fixture(scope="module")
def feed_model() -> Scorecard:
    return fit_scorecard(pilot_dataset(seed=3, shoppers=4_000))


def promote(platform: Platform, model: Scorecard) -> str:
    version = platform.run(
        ADMIN, lambda c: model_registry.register_model(c, model, "pilot", {"source": {"dataset": "pilot"}})
    )
    model_registry.set_role(platform, version, "champion")
    return version


def share(platform: Platform, cid: int, orders: int = 24) -> None:
    """Consent, then a steady marketplace life: a verified profile and a year of everyday orders."""
    platform.run(
        Actor("customer", cid),
        lambda c: marketplace.grant_consent(c, cid, "credit_assessment", ["profile", "order"], "notice-1"),
    )
    now = platform.clock.now()
    records: list[dict[str, Any]] = [
        {
            "type": "profile",
            "event_id": f"p{cid}",
            "customer_id": cid,
            "observed_at": (now - timedelta(days=1)).isoformat(),
            "account_opened_at": (now - timedelta(days=700)).isoformat(),
            "real_name_verified": True,
            "phone_tenure_band": "3y_plus",
            "payment_methods": 2,
            "addresses_12m": 1,
        }
    ]
    records += [
        {
            "type": "order",
            "event_id": f"o{cid}-{i}",
            "customer_id": cid,
            "occurred_at": (now - timedelta(days=5 + 15 * i, hours=-3)).isoformat(),
            "category": "snacks",
            "channel": "mall",
            "amount": 89_00,
            "payment_kind": "wallet",
            "outcome": "completed",
        }
        for i in range(orders)
    ]
    platform.run(FEED, lambda c: marketplace.ingest(c, list(enumerate(records))))


def decision_of(w: World, order: dict[str, Any]) -> dict[str, Any]:
    with w.platform.read(ADMIN) as c:
        return explain.get_decision(c, order["decision"]["id"])


def test_a_shopper_sharing_marketplace_data_is_scored_from_the_first_purchase(
    platform: Platform, feed_model: Scorecard
) -> None:
    assert reads_feed(feed_model.features)
    promote(platform, feed_model)
    w = World.create(platform, limit=0)  # a line never given a limit
    share(platform, w.customer_id)
    order = w.authorize(("tea", 400_00, 1))
    d = decision_of(w, order)
    assert d["credit"]["thin_file"] is False and d["credit"]["feed_status"] == "ok"
    assert "STARTER_LIMIT" not in [r["code"] for r in order["decision"]["reasons"]]
    # the line opened by the grade the checkout gave, and the change is audited
    policy = CreditPolicy()
    c = d["credit"]
    grade = CreditAssessment(c["model_version"], c["pd"], c["score"], Grade(c["grade"]), False)
    expected = first_limit(grade, None, policy)
    assert expected == policy.band_of(c["grade"]).first_limit > policy.starter_limit
    assert w.account()["limit"] == expected
    with platform.engine.connect() as conn:
        actions = list(
            conn.execute(select(audit_log.c.action).where(audit_log.c.action == "limit.assign")).scalars()
        )
    assert actions == ["limit.assign"]


def test_withdrawing_consent_falls_back_to_the_starter_policy_and_says_so(
    platform: Platform, feed_model: Scorecard
) -> None:
    promote(platform, feed_model)
    w = World.create(platform)  # a line of 1,000 yuan given by staff
    share(platform, w.customer_id)
    scored = decision_of(w, w.authorize(("tea", 700_00, 1)))
    assert scored["credit"]["thin_file"] is False
    platform.run(w.customer, lambda c: marketplace.withdraw_consent(c, w.customer_id))
    order = w.authorize(("tea", 100_00, 1))
    d = decision_of(w, order)
    assert d["credit"]["thin_file"] is True and d["credit"]["feed_status"] == "withdrawn"
    codes = [r["code"] for r in order["decision"]["reasons"]]
    assert "FEED_NOT_USED" in codes
    # with 700 held, the starter limit of 500 leaves nothing: the feed no longer vouches for more
    assert order["decision"]["outcome"] in ("decline", "approve_lower") and order["status"] == "declined"


def test_feeds_read_together_equal_feeds_read_one_by_one(platform: Platform) -> None:
    w = World.create(platform)
    shared, withdrawn, never = w.customer_id, w.new_customer(), w.new_customer()
    share(platform, shared, orders=5)
    share(platform, withdrawn, orders=3)
    platform.run(Actor("customer", withdrawn), lambda c: marketplace.withdraw_consent(c, withdrawn))
    at = platform.clock.now()
    with platform.engine.connect() as conn:
        together = load_feeds(conn, [never, withdrawn, shared], at)
        for cid in (shared, withdrawn, never):
            assert together[cid] == load_feed(conn, cid, at)
        # before anything arrived, the same reader sees nothing of it
        early = load_feeds(conn, [shared], datetime(2000, 1, 1, tzinfo=UTC))[shared]
    assert [together[c].status.value for c in (shared, withdrawn, never)] == ["ok", "withdrawn", "no_consent"]
    assert len(together[shared].records) == 6 and early.status.value == "no_consent"
