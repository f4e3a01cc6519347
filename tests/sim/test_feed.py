"""The marketplace feed in a season: sent through the real consent and ingestion services, read back
through the feature service with the consent rules applied, absent under ``no-feed``, and — the
honesty check — informative at the strength the literature reports, not an oracle."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from bnpl.runtime import ADMIN, Settings
from bnpl.services import marketplace
from bnpl.services.boot import open_platform
from bnpl.sim.engine import DB_NAME, SimConfig, Simulation
from bnpl.sim.policy import load_policy
from bnpl.sim.season import run_one
from bnpl.store.tables import decisions

SMALL = SimConfig(customers=300, days=15, seed=4)
# big enough for some 70 bad first loans; about 30 s on the shared 2-core machine
HONESTY = SimConfig(customers=4_000, days=60, seed=7)


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulation]:
    sim = Simulation(SMALL, load_policy("baseline"), tmp_path_factory.mktemp("feed"))
    sim.run()
    yield sim
    sim.platform.dispose()


def _features(sim: Simulation, shopper: int, at: datetime) -> dict[str, Any]:
    with sim.platform.read(ADMIN) as ctx:
        return marketplace.feed_features(ctx, int(sim.customer_of[shopper]), at)


def test_consenting_shoppers_have_a_feed_and_the_others_none(season: Simulation) -> None:
    sim = season
    assert sim.feed is not None and sim.feed.sent > 3_000
    h = sim.feed.habits.frame
    end = datetime.combine(sim.date_of(SMALL.days), time(0), tzinfo=UTC)
    start = datetime.combine(SMALL.start, time(1), tzinfo=UTC)  # history arrived at 00:30 UTC
    never = np.flatnonzero(~h["consents"])
    withdrew = np.flatnonzero(h["withdraws_on"] >= 0)
    kept = np.flatnonzero(h["consents"] & (h["withdraws_on"] < 0))
    assert len(never) and len(withdrew) and len(kept)
    for s in never[:5]:
        assert _features(sim, s, end)["feed_status"] == "no_consent"
    for s in withdrew[:5]:
        assert _features(sim, s, end)["feed_status"] == "withdrawn"
        assert _features(sim, s, start)["feed_status"] == "ok"  # before the withdrawal it was seen
    seen = [_features(sim, s, end) for s in kept[:40]]
    assert all(f["feed_status"] == "ok" for f in seen)
    assert np.mean([f["mkt_orders_per_30d_12m"] > 0 for f in seen]) > 0.8
    assert all(f["mkt_account_age_days"] >= 183 for f in seen)


def test_the_season_sends_yesterdays_records_each_morning(season: Simulation) -> None:
    sim = season
    assert sim.feed is not None
    kept = np.flatnonzero(sim.feed.habits.col("consents"))
    first_day = datetime.combine(SMALL.start, time(1), tzinfo=UTC)
    later = first_day + timedelta(days=SMALL.days - 1)
    before = sum(_features(sim, s, first_day)["mkt_orders_per_30d_6m"] for s in kept[:60])
    after = sum(_features(sim, s, later)["mkt_orders_per_30d_6m"] for s in kept[:60])
    assert before > 0 and after != before  # the season's orders arrived and count


def test_no_feed_is_the_platform_without_the_marketplace(tmp_path: Path) -> None:
    sim = Simulation(SimConfig(customers=60, days=3, seed=4), load_policy("no-feed"), tmp_path)
    try:
        sim.run()
        assert sim.feed is None
        end = datetime.combine(sim.date_of(3), time(0), tzinfo=UTC)
        assert {_features(sim, s, end)["feed_status"] for s in range(60)} == {"no_consent"}
    finally:
        sim.platform.dispose()


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("honesty")
    return out, run_one(HONESTY, load_policy("baseline"), out)


def test_the_feed_alone_ranks_loans_as_the_literature_reports(honest: tuple[Path, dict[str, Any]]) -> None:
    metrics = honest[1]
    detail = metrics["feed_only"]
    assert detail["bad"] >= 50 and detail["shoppers"] > 500
    assert detail["by_feed_status"].get("no_consent", 0) > 0
    # informative, and far from the truth's own ranking: the feed does not leak the hidden traits
    assert 0.62 <= metrics["feed_only_auc"] <= 0.78
    assert metrics["feed_only_auc"] < detail["oracle_auc"] - 0.05


def test_every_shopper_with_a_usable_feed_is_scored_and_only_the_others_get_the_starter_policy(
    honest: tuple[Path, dict[str, Any]],
) -> None:
    out = honest[0]
    platform = open_platform(Settings(database_url=f"sqlite:///{out / DB_NAME}"))
    try:
        with platform.engine.connect() as conn:
            credit = [
                (inputs or {}).get("credit") or {}
                for inputs in conn.execute(select(decisions.c.inputs)).scalars()
            ]
    finally:
        platform.dispose()
    scored = [c for c in credit if c]
    assert len(scored) == len(credit) > 500  # the season starts with a champion
    by_status = {s: [c["thin_file"] for c in scored if c["feed_status"] == s] for s in ("ok", "no_consent")}
    assert by_status["ok"] and not any(by_status["ok"])  # the feed in use: scored from the first purchase
    assert by_status["no_consent"] and any(by_status["no_consent"])  # the starter policy guards the rest
