"""The marketplace feed against a real database (SQLite, and PostgreSQL when configured): consent
events and their audit, all-or-nothing ingestion, resends, and features read as of a moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from bnpl.credit.feed_features import NEUTRAL, feed_features
from bnpl.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from bnpl.runtime import ADMIN, Actor, Platform
from bnpl.services import audit, marketplace, parties
from bnpl.store.tables import audit_log, marketplace_consents, marketplace_orders
from tests.conftest import TimeOfDayClock

FEED = Actor("marketplace")


def customer(platform: Platform, name: str = "Shopper") -> int:
    return int(platform.run(ADMIN, lambda c: parties.create_customer(c, name, 1000_00))["id"])


def grant(platform: Platform, cid: int, scope: tuple[str, ...] = ("profile", "order", "engagement")) -> Any:
    return platform.run(
        Actor("customer", cid),
        lambda c: marketplace.grant_consent(c, cid, "credit_assessment", list(scope), "notice-2026.1"),
    )


def order(cid: int, event_id: str, days_ago: int = 3, amount: int = 59_00, **extra: Any) -> dict[str, Any]:
    at = datetime(2026, 3, 2, tzinfo=UTC) - timedelta(days=days_ago)
    return {
        "type": "order",
        "event_id": event_id,
        "customer_id": cid,
        "occurred_at": at.isoformat(),
        "category": "Snacks",
        "channel": "live_stream",
        "amount": amount,
        "payment_kind": "wallet",
        "outcome": "completed",
        **extra,
    }


def ingest(platform: Platform, records: list[Any]) -> Any:
    return platform.run(FEED, lambda c: marketplace.ingest(c, list(enumerate(records))))


def count(platform: Platform, table: Any) -> int:
    with platform.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_consent_is_granted_withdrawn_shown_and_audited(platform: Platform) -> None:
    cid = customer(platform)
    other = customer(platform, "Other")
    with pytest.raises(NotFound):  # another customer's consent is not theirs to give
        platform.run(
            Actor("customer", other),
            lambda c: marketplace.grant_consent(c, cid, "credit_assessment", ["order"], "v1"),
        )
    with pytest.raises(Forbidden):
        platform.run(Actor("merchant", 1), lambda c: marketplace.withdraw_consent(c, cid))
    with pytest.raises(InvalidInput, match="scope"):
        platform.run(ADMIN, lambda c: marketplace.grant_consent(c, cid, "credit_assessment", ["names"], "v1"))
    with pytest.raises(InvalidInput, match="purpose"):
        platform.run(ADMIN, lambda c: marketplace.grant_consent(c, cid, "marketing", ["order"], "v1"))
    assert grant(platform, cid)["status"] == "ok"
    first = platform.run(ADMIN, lambda c: marketplace.withdraw_consent(c, cid))
    again = platform.run(ADMIN, lambda c: marketplace.withdraw_consent(c, cid))
    assert first["changed"] and not again["changed"]
    shown = platform.run(ADMIN, lambda c: marketplace.consent_status(c, cid, history=True))
    assert shown["status"] == "withdrawn" and shown["current"] is None
    assert [e["action"] for e in shown["events"]] == ["grant", "withdraw"]
    assert shown["events"][0]["notice_version"] == "notice-2026.1"
    with platform.engine.connect() as conn:
        actions = conn.execute(
            select(audit_log.c.action)
            .where(audit_log.c.stream == f"customer:{cid}")
            .order_by(audit_log.c.seq)
        ).scalars()
        assert [a for a in actions if a.startswith("marketplace")] == [
            "marketplace_consent.granted",
            "marketplace_consent.withdrawn",
        ]
        assert audit.verify(conn)[1] == []


def test_a_bad_batch_writes_nothing(platform: Platform) -> None:
    cid, stranger = customer(platform), customer(platform, "No consent")
    grant(platform, cid, ("order",))
    future = (datetime(2026, 3, 2, tzinfo=UTC) + timedelta(days=2)).isoformat()
    batch = [
        order(cid, "e1"),
        order(cid, "e2", amount=0),
        order(stranger, "e3"),
        order(cid, "e4", occurred_at=future),
        order(cid, "e5", outcome="lost"),
        order(cid, "e6", name="Zhang San"),  # no names, addresses or messages
        {
            "type": "profile",
            "event_id": "p1",
            "customer_id": cid,
            "observed_at": "2026-03-01T00:00:00Z",
            "account_opened_at": "2020-01-01T00:00:00Z",
            "real_name_verified": True,
            "phone_tenure_band": "3y_plus",
            "payment_methods": 2,
            "addresses_12m": 1,
        },
    ]
    with pytest.raises(InvalidInput) as refused:
        ingest(platform, batch)
    reasons = {e["record"]: e["reason"] for e in refused.value.extra["errors"]}  # type: ignore[union-attr]
    assert set(reasons) == {1, 2, 3, 4, 5, 6}
    assert "amount" in reasons[1] and reasons[2] == "no consent" and "future" in reasons[3]
    assert "outcome" in reasons[4] and "name" in reasons[5] and "scope" in reasons[6]
    assert "record 1:" in refused.value.detail
    assert count(platform, marketplace_orders) == 0
    with pytest.raises(InvalidInput, match="at most 5000"):
        ingest(platform, [order(cid, f"x{i}") for i in range(5001)])


def test_resends_count_once_and_a_changed_resend_is_refused(platform: Platform) -> None:
    cid = customer(platform)
    grant(platform, cid)
    first = ingest(platform, [order(cid, "e1"), order(cid, "e2")])
    assert (first["accepted"], first["duplicate"]) == (2, 0)
    again = ingest(platform, [order(cid, "e1"), order(cid, "e2"), order(cid, "e3"), order(cid, "e3")])
    assert (again["accepted"], again["duplicate"]) == (1, 3)
    with pytest.raises(Conflict, match="e2"):
        ingest(platform, [order(cid, "e4"), order(cid, "e2", amount=60_00)])
    assert count(platform, marketplace_orders) == 3


def test_the_feed_is_append_only(platform: Platform) -> None:
    cid = customer(platform)
    grant(platform, cid)
    ingest(platform, [order(cid, "e1")])
    for statement in ("UPDATE marketplace_orders SET amount = 1", "DELETE FROM marketplace_consents"):
        with pytest.raises(DBAPIError, match="append-only"), platform.engine.begin() as conn:
            conn.execute(text(statement))


def test_features_follow_consent_and_never_see_later_rows(platform: Platform) -> None:
    clock = TimeOfDayClock()
    clock.set(0, 9)
    platform.clock = clock
    cid = customer(platform)
    t0 = clock.now()
    with platform.engine.connect() as conn:
        assert feed_features(conn, cid, t0).status.value == "no_consent"
    grant(platform, cid)
    clock.set(0, 10)
    with platform.engine.connect() as conn:
        assert feed_features(conn, cid, clock.now()).status.value == "no_data"
    ingest(platform, [order(cid, "e1", days_ago=20), order(cid, "e2", days_ago=40, outcome="payment_failed")])
    clock.set(0, 11)
    with platform.engine.connect() as conn:
        ok = feed_features(conn, cid, clock.now())
        assert ok.status.value == "ok"
        assert ok.values["mkt_payment_failed_rate_12m"] == 0.5
        # as of 10:00 the rows had not arrived yet
        assert (
            feed_features(
                conn, cid, datetime.combine(clock.day, clock.at, UTC) - timedelta(hours=1)
            ).status.value
            == "no_data"
        )
    platform.run(Actor("customer", cid), lambda c: marketplace.withdraw_consent(c, cid))
    clock.set(0, 12)
    with platform.engine.connect() as conn:
        gone = feed_features(conn, cid, clock.now())
        assert gone.status.value == "withdrawn" and gone.values == NEUTRAL
        assert (
            feed_features(
                conn, cid, datetime.combine(clock.day, clock.at, UTC) - timedelta(hours=1)
            ).status.value
            == "ok"
        )
    with pytest.raises(InvalidInput, match="no consent"):
        ingest(platform, [order(cid, "e3")])
    grant(platform, cid)  # a new consent sees only what arrives under it
    clock.set(0, 13)
    with platform.engine.connect() as conn:
        assert feed_features(conn, cid, clock.now()).status.value == "no_data"
    shown = platform.run(ADMIN, lambda c: marketplace.feed_features(c, cid))
    assert shown["feed_status"] == "no_data" and shown["mkt_orders_per_30d_12m"] == 0
    with platform.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(marketplace_consents)).scalar_one() == 3
