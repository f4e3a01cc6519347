"""The credit assessment in the real checkout: registry, champion and shadow models, rescoring, the
starter policy for thin files, and the periodic limit review. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bnpl.credit.dataset import german
from bnpl.credit.gbm import GbmModel, fit_gbm
from bnpl.credit.registry import list_models, register
from bnpl.credit.scorecard import Scorecard, fit_scorecard
from bnpl.credit.synthetic import synthetic
from bnpl.domain.errors import InvalidState
from bnpl.runtime import ADMIN, SYSTEM, Platform
from bnpl.services import audit, credit, credit_lines, explain, model_registry
from bnpl.store.tables import credit_profiles
from tests.world import World


@pytest.fixture(scope="module")
def models() -> tuple[Scorecard, GbmModel]:
    ds = synthetic(rows=3000, seed=1)
    return fit_scorecard(ds), fit_gbm(ds)


def add(platform: Platform, model: Any, dataset: str = "synthetic") -> str:
    return platform.run(
        SYSTEM, lambda c: register(c.conn, model, dataset, {"source": {"dataset": dataset}}, c.now)
    )


def champion(platform: Platform, model: Any) -> str:
    version = add(platform, model)
    model_registry.set_role(platform, version, "champion")
    return version


def decision_of(w: World, order: dict[str, Any]) -> dict[str, Any]:
    with w.platform.read(ADMIN) as c:
        return explain.get_decision(c, order["decision"]["id"])


def test_without_a_champion_nothing_changes(platform: Platform, models: tuple[Scorecard, GbmModel]) -> None:
    w = World.create(platform)
    add(platform, models[0])  # a candidate decides nothing
    order = w.authorize(("tea", 800_00, 1))
    assert order["status"] == "authorized"
    d = decision_of(w, order)
    assert "model" not in d["versions"] and "credit" not in d


def test_a_new_customer_gets_the_starter_policy(
    platform: Platform, models: tuple[Scorecard, GbmModel]
) -> None:
    version = champion(platform, models[0])
    w = World.create(platform)
    order = w.authorize(("tea", 800_00, 1))
    assert (order["status"], order["decision"]["approved_amount"]) == ("declined", 500_00)
    assert order["decision"]["outcome"] == "approve_lower"
    assert [r["code"] for r in order["decision"]["reasons"]] == ["STARTER_LIMIT"]
    d = decision_of(w, order)
    assert d["versions"]["model"] == version and d["credit"]["thin_file"] is True
    assert w.authorize(("tea", 300_00, 1))["status"] == "authorized"
    assert w.account()["available"] == 1000_00 - 300_00


def history(w: World, bills: int) -> None:
    """``bills`` orders, each delivered and repaid on its due date."""
    clock = w.platform.clock
    for i in range(bills):
        order_id = w.buy((f"tea-{i}", 100_00, 1))
        clock.advance(7)
        w.repay(w.order(order_id)["amount"])
        clock.advance(1)


def test_a_customer_with_history_is_scored_by_the_champion(
    platform: Platform, models: tuple[Scorecard, GbmModel]
) -> None:
    w = World.create(platform)
    history(w, 3)
    version = champion(platform, models[0])
    summary = credit.rescore(platform)
    assert summary["customers"] == 1 and summary["model"] == version and sum(summary["grades"].values()) == 1
    with platform.read() as c:
        profile = c.conn.execute(select(credit_profiles)).one()
    assert profile.features["obligations_due"] == 3 and profile.features["on_time_ratio"] == 1.0
    assert profile.model_version == version and profile.grade in "ABCDE"

    order = w.authorize(("tea", 200_00, 1))
    d = decision_of(w, order)
    c_ = d["credit"]
    assert c_["thin_file"] is False and c_["model_version"] == version
    expected = models[0].predict_pd_one({**profile.features, "utilisation": 0.0})
    assert c_["pd"] == pytest.approx(expected, abs=1e-6)
    assert c_["grade"] == profile.grade  # utilisation 0 both at rescoring and now
    assert len(c_["reasons"]) <= 4


def test_shadow_models_score_beside_the_champion(
    platform: Platform, models: tuple[Scorecard, GbmModel]
) -> None:
    w = World.create(platform)
    history(w, 1)
    sc = champion(platform, models[0])
    gb = add(platform, models[1])
    model_registry.set_role(platform, gb, "shadow")
    credit.rescore(platform)
    d = decision_of(w, w.authorize(("tea", 100_00, 1)))
    assert d["versions"]["model"] == sc
    assert set(d["credit"]["shadow"]) == {gb}
    assert 0 < d["credit"]["shadow"][gb] < 1
    # a champion is replaced, never removed: checkouts would fall back to the limit alone
    for role in ("shadow", "retired"):
        with pytest.raises(InvalidState, match="promote another model"):
            model_registry.set_role(platform, sc, role)
    # a new champion retires the old one
    model_registry.set_role(platform, gb, "champion")
    with platform.read() as c:
        roles = {m["version"]: m["role"] for m in list_models(c.conn)}
    assert roles == {sc: "retired", gb: "champion"}


def test_only_a_model_on_platform_features_may_score_checkouts(platform: Platform) -> None:
    ds = german().subset(list(range(300)))
    version = add(platform, fit_scorecard(ds), "german")
    with pytest.raises(InvalidState, match="platform's credit features"):
        model_registry.set_role(platform, version, "champion")
    with pytest.raises(InvalidState):
        model_registry.set_role(platform, version, "shadow")
    assert model_registry.set_role(platform, version, "retired")["role"] == "retired"


def test_train_registers_candidates_with_their_metrics(platform: Platform) -> None:
    ds = synthetic(rows=1500, seed=2)
    (entry,) = model_registry.train(platform, ds, {"dataset": "synthetic"}, ("scorecard",))
    assert entry["version"] == "scorecard-synthetic-1" and entry["role"] == "candidate"
    assert entry["fingerprint"] == ds.fingerprint and entry["rows"] == 1500
    assert entry["platform_features"] is True and 0.5 < entry["metrics"]["auc"] <= 1
    (again,) = model_registry.train(platform, ds, {"dataset": "synthetic"}, ("scorecard",))
    assert again["version"] == "scorecard-synthetic-2"


def set_profile(platform: Platform, customer_id: int, grade: str, **features: float) -> None:
    base = {"obligations_due": 4.0, "on_time_ratio": 1.0, "current_dpd": 0.0, "max_dpd_365d": 0.0}
    with platform.engine.begin() as conn:
        conn.execute(credit_profiles.delete().where(credit_profiles.c.customer_id == customer_id))
        conn.execute(
            credit_profiles.insert().values(
                customer_id=customer_id,
                as_of=platform.clock.now(),
                features={**base, "gmv_365d": 2_400_000.0, **features},
                model_version="m",
                pd_bps=100,
                grade=grade,
                updated_at=platform.clock.now(),
            )
        )


def test_the_limit_review_raises_clean_payers_and_holds_cuts_at_what_is_in_use(platform: Platform) -> None:
    w = World.create(platform, limit=3000_00)
    clean, worse = w.customer_id, w.new_customer(limit=5000_00)
    late = w.new_customer(limit=3000_00)
    w.buy(("tea", 2500_00, 1))  # the clean payer has 2,500 yuan in use
    held = w.authorize(("tea", 4000_00, 1), customer_id=worse)
    assert held["status"] == "authorized"
    set_profile(platform, clean, "B")
    set_profile(platform, worse, "D")  # grade D's cap is 2,000 yuan, but 4,000 is held
    set_profile(platform, late, "B", on_time_ratio=0.5)

    assert credit.review_limits(platform) == {
        "reviewed": 3,
        "assign": 0,
        "raise": 1,
        "cut": 0,
        "hold": 1,
        "keep": 1,
    }
    assert w.account(clean)["limit"] == 3600_00  # +20%
    assert w.account(worse)["limit"] == 4000_00 and w.account(worse)["available"] == 0
    assert w.account(late)["limit"] == 3000_00
    # the job run again the same day raises nothing twice
    assert credit.review_limits(platform)["raise"] == 0 and w.account(clean)["limit"] == 3600_00
    # a customer opened without a limit gets a first one from grade and spending
    newcomer = w.new_customer(limit=0)
    set_profile(platform, newcomer, "C", gmv_365d=12_000_00.0, account_age_days=365.0)
    assert credit.review_limits(platform)["assign"] == 1
    # three 30-day months of 12,000 yuan a year is 2,958.90, in whole hundreds 2,900; under C's cap
    assert w.account(newcomer)["limit"] == 2900_00
    with platform.read() as c:
        _, broken = audit.verify(c.conn)
    assert not broken
    w.ledger_ok()


def test_a_frozen_line_is_not_reviewed(platform: Platform) -> None:
    w = World.create(platform, limit=3000_00)
    platform.run(ADMIN, lambda c: credit_lines.set_account(c, w.customer_id, state="frozen"))
    set_profile(platform, w.customer_id, "A")
    assert credit.review_limits(platform)["keep"] == 1
    assert w.account()["limit"] == 3000_00


def test_rescoring_is_point_in_time_and_replaces_the_profile(
    platform: Platform, models: tuple[Scorecard, GbmModel]
) -> None:
    w = World.create(platform)
    t0 = platform.clock.now() + timedelta(seconds=1)
    credit.rescore(platform, as_of=t0)  # no champion: features only
    with platform.read() as c:
        first = c.conn.execute(select(credit_profiles)).one()
    assert first.grade is None and first.features["orders_365d"] == 0
    platform.clock.advance(1)
    w.buy(("tea", 100_00, 1))
    champion(platform, models[0])
    credit.rescore(platform, as_of=t0)
    with platform.read() as c:
        same_moment = c.conn.execute(select(credit_profiles)).one()
    assert same_moment.features == first.features  # the order came after that moment
    credit.rescore(platform)
    with platform.read() as c:
        now = c.conn.execute(select(credit_profiles)).one()
    assert now.features["orders_365d"] == 1 and now.grade is not None
    with platform.engine.begin() as conn:  # profiles are plain rows: a stale one is overwritten
        conn.execute(update(credit_profiles).values(grade="E"))
    credit.rescore(platform)
    with platform.read() as c:
        assert c.conn.execute(select(credit_profiles.c.grade)).scalar_one() == now.grade
