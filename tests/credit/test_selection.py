"""The selection rule on constructed CV results, and `promote --best` applying it to the registry."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bnpl.credit.gbm import GbmModel, fit_gbm
from bnpl.credit.registry import list_models, register
from bnpl.credit.scorecard import Scorecard, fit_scorecard
from bnpl.credit.selection import NoCandidate, recommend
from bnpl.credit.synthetic import synthetic
from bnpl.domain.errors import InvalidState
from bnpl.runtime import SYSTEM, Platform
from bnpl.services import model_registry
from bnpl.store.tables import audit_log

FOLDS = [0.74, 0.70, 0.78, 0.72, 0.76]  # fold to fold, the folds differ far more than the models


def cv(folds: list[float], brier: float = 0.15, **extra: Any) -> dict[str, Any]:
    mean = sum(folds) / len(folds)
    sd = (sum((f - mean) ** 2 for f in folds) / len(folds)) ** 0.5
    return {"auc": round(mean, 4), "ks": 0.4, "brier": brier, "auc_std": round(sd, 4), "auc_folds": folds}


def shifted(by: list[float] | float) -> list[float]:
    steps = by if isinstance(by, list) else [by] * len(FOLDS)
    return [round(f + s, 6) for f, s in zip(FOLDS, steps, strict=True)]


def test_a_clear_winner_by_more_than_one_sd_of_the_paired_differences() -> None:
    # +0.02 in every fold: far below the fold AUCs' own sd (0.028), yet a consistent win
    results = {"champion": cv(FOLDS), "challenger": cv(shifted([0.02, 0.025, 0.015, 0.02, 0.02]), 0.14)}
    pick = recommend(results)
    assert pick.name == "challenger" and pick.auc == results["challenger"]["auc"]
    assert (pick.ks, pick.brier) == (0.4, 0.14)
    assert "sd of the 5 paired fold differences" in pick.reason and "no worse" in pick.reason


def test_a_close_call_keeps_the_simpler_model() -> None:
    results = {"champion": cv(FOLDS), "challenger": cv(shifted([0.05, -0.03, 0.04, -0.02, 0.01]), 0.14)}
    pick = recommend(results)
    assert pick.name == "champion" and pick.auc == results["champion"]["auc"]
    assert "not more than 1 sd" in pick.reason and "scorecard < lightgbm" in pick.reason


def test_a_winner_with_a_worse_brier_is_not_recommended() -> None:
    results = {"champion": cv(FOLDS, 0.150), "challenger": cv(shifted(0.03), 0.151)}
    pick = recommend(results)
    assert pick.name == "champion" and "Brier 0.1510 is worse than 0.1500" in pick.reason


def test_ties_go_to_the_simpler_model() -> None:
    assert recommend({"challenger": cv(FOLDS), "champion": cv(FOLDS)}).name == "champion"
    # of one kind, the better AUC, then the better Brier, then the name
    same_kind = {"a": cv(FOLDS, 0.15), "b": cv(FOLDS, 0.14), "c": cv(shifted(-0.01), 0.13)}
    assert recommend(same_kind, {k: "scorecard" for k in same_kind}).name == "b"


def test_without_paired_folds_the_larger_fold_sd_is_the_bar() -> None:
    champion, challenger = cv(FOLDS), cv(shifted(0.02), 0.14)
    assert recommend({"champion": champion, "challenger": challenger}).name == "challenger"
    legacy = {
        k: {m: v for m, v in r.items() if m != "auc_folds"}
        for k, r in (("champion", champion), ("challenger", challenger))
    }
    pick = recommend(legacy)
    assert pick.name == "champion" and "no per-fold AUCs on the same folds" in pick.reason
    # per-fold AUCs of other folds do not pair either
    other = {"champion": champion | {"folds_key": "x"}, "challenger": challenger | {"folds_key": "y"}}
    assert recommend(other).name == "champion"


def test_each_more_complex_model_must_beat_the_pick_so_far() -> None:
    results = {
        "sc": cv(FOLDS, 0.15),
        "gbm-sharp": cv(shifted(0.04), 0.16),  # the best AUC, but a worse Brier
        "gbm-calibrated": cv(shifted(0.03), 0.14),
    }
    kinds = {"sc": "scorecard", "gbm-sharp": "lightgbm", "gbm-calibrated": "lightgbm"}
    assert recommend(results, kinds).name == "gbm-calibrated"


def test_the_baseline_and_the_oracle_are_not_candidates_but_the_baseline_is_a_bar() -> None:
    results = {"champion": cv(FOLDS), "baseline": cv(shifted(0.03)), "oracle": cv(shifted(0.2))}
    pick = recommend(results)
    assert pick.name == "champion" and "warning: the plain baseline beats it" in pick.reason
    with pytest.raises(NoCandidate):
        recommend({"baseline": cv(FOLDS), "oracle": cv(FOLDS)})
    with pytest.raises(ValueError, match="unknown model kind"):
        recommend({"m": cv(FOLDS)}, {"m": "forest"})


def test_the_champion_in_service_is_replaced_only_by_the_rule() -> None:
    kinds = {"sc-new": "scorecard", "gbm-new": "lightgbm"}
    # a new scorecard as good as the incumbent, even one a hair better: the incumbent stays
    close = {"in-service": cv(FOLDS), "sc-new": cv(shifted([0.01, -0.01, 0.0, 0.005, 0.0]))}
    pick = recommend(close, kinds, keep="in-service")
    assert pick.name == "in-service" and "the champion in service < scorecard" in pick.reason
    # without the incumbent the same scorecard is the only candidate
    assert recommend({"sc-new": close["sc-new"]}, kinds).name == "sc-new"
    # a consistent win with a Brier no worse replaces it
    clear = {"in-service": cv(FOLDS, 0.15), "gbm-new": cv(shifted(0.03), 0.14)}
    assert recommend(clear, kinds, keep="in-service").name == "gbm-new"
    # ...but not with a worse Brier
    worse = {"in-service": cv(FOLDS, 0.15), "gbm-new": cv(shifted(0.03), 0.16)}
    assert recommend(worse, kinds, keep="in-service").name == "in-service"


def test_training_measures_the_champion_in_service_on_the_same_folds(
    platform: Platform, models: tuple[Scorecard, GbmModel]
) -> None:
    champion = add(platform, models[0], "f-old", cv(FOLDS))
    model_registry.set_role(platform, champion, "champion")
    (entry,) = model_registry.train(
        platform, synthetic(rows=600, seed=4), {"dataset": "synthetic"}, ("scorecard",)
    )
    kept = entry["incumbent"]
    assert kept["version"] == champion and len(kept["auc_folds"]) == len(entry["metrics"]["auc_folds"]) == 5
    assert 0.5 < kept["auc"] < 1
    result = model_registry.promote_best(platform, "synthetic")
    assert champion in result["compared"] and entry["version"] in result["compared"]
    assert "the champion in service" in result["reason"]
    # whichever the rule chose is the champion now, and the rule's figures are the chosen one's
    chosen = entry["incumbent"] if result["promoted"] == champion else entry["metrics"]
    assert roles(platform)[result["promoted"]] == "champion" and result["auc"] == chosen["auc"]
    assert result["changed"] is (result["promoted"] != champion)


# --- promote --best on the registry --------------------------------------------------------------


@pytest.fixture(scope="module")
def models() -> tuple[Scorecard, GbmModel]:
    ds = synthetic(rows=600, seed=3)
    return fit_scorecard(ds), fit_gbm(ds)


def add(platform: Platform, model: Any, fingerprint: str, metrics: dict[str, Any] | None) -> str:
    meta: dict[str, Any] = {"source": {"dataset": "synthetic"}, "fingerprint": fingerprint}
    if metrics is not None:
        meta["metrics"] = {"cv_folds": 5, "cv_repeats": 1, "cv_seed": 42, **metrics}
    return platform.run(SYSTEM, lambda c: register(c.conn, model, "synthetic", meta, c.now))


def roles(platform: Platform) -> dict[str, str]:
    with platform.read() as c:
        return {m["version"]: m["role"] for m in list_models(c.conn)}


def test_promote_best_applies_the_rule_and_is_audited(
    platform: Platform, models: tuple[Scorecard, GbmModel]
) -> None:
    with pytest.raises(InvalidState, match="no model to choose from"):
        model_registry.promote_best(platform)
    add(platform, models[0], "f0", None)  # registered without CV metrics (as the simulator does)
    with pytest.raises(InvalidState, match="1 without CV metrics"):
        model_registry.promote_best(platform)

    sc = add(platform, models[0], "f1", cv(FOLDS))
    gb = add(platform, models[1], "f1", cv(shifted(0.02), 0.14))
    result = model_registry.promote_best(platform)
    assert (result["promoted"], result["changed"]) == (gb, True)
    assert result["compared"] == [sc, gb] and "paired fold differences" in result["reason"]
    assert roles(platform)[gb] == "champion"
    with platform.read() as c:
        after = c.conn.execute(
            select(audit_log.c.after).where(audit_log.c.stream == f"model:{gb}")
        ).scalar_one()
    assert after["role"] == "champion" and after["reason"] == result["reason"]
    assert model_registry.promote_best(platform)["changed"] is False  # already the champion

    # a newer table: only its models compete; entries without per-fold AUCs fall back, and say so
    sc2 = add(platform, models[0], "f2", {k: v for k, v in cv(FOLDS).items() if k != "auc_folds"})
    gb2 = add(
        platform, models[1], "f2", {k: v for k, v in cv(shifted(0.02), 0.14).items() if k != "auc_folds"}
    )
    result = model_registry.promote_best(platform)
    assert result["promoted"] == sc2 and result["compared"] == [sc2, gb2]
    assert "no per-fold AUCs" in result["reason"] and set(result["left_out"]) >= {sc, gb}
    assert roles(platform) == {
        "scorecard-synthetic-1": "candidate",
        sc: "candidate",
        gb: "retired",
        sc2: "champion",
        gb2: "candidate",
    }
    with pytest.raises(InvalidState, match="trained on 'german' to choose from"):
        model_registry.promote_best(platform, "german")
