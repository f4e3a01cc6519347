"""Credit models through their life: train on a table (with cross-validated evidence), register,
change roles (champion, shadow, retired: audited, one at a time), and promote the best by the stated
rule of ``credit/selection.py``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import func, select

from bnpl.credit.dataset import Dataset
from bnpl.credit.registry import Model, entry, list_models, promote, register, scoring_versions
from bnpl.credit.selection import recommend
from bnpl.domain.errors import InvalidState
from bnpl.runtime import ADMIN, SYSTEM, Ctx, Platform
from bnpl.services import audit
from bnpl.services.boot import loaded_models
from bnpl.store.tables import credit_models

CV_FOLDS, CV_SEED = 5, 42  # how train() measures a model; the same data gives the same folds
ROLE_LOCK = 0x6273_6E70_726F_6C  # "bnprol"


def learners() -> dict[str, Callable[[Dataset], Model]]:
    from bnpl.credit.gbm import fit_gbm
    from bnpl.credit.scorecard import fit_scorecard

    return {"scorecard": fit_scorecard, "lightgbm": fit_gbm}


def train(
    platform: Platform,
    ds: Dataset,
    source: Mapping[str, Any],
    kinds: tuple[str, ...] = ("scorecard", "lightgbm"),
) -> list[dict[str, Any]]:
    """Fit each kind on the whole table, measure it by 5-fold CV, and register it as a candidate.
    The champion in service, when it can read the table, is measured on the same test folds
    (scored, not refitted) and its figures kept with each candidate, so ``best_model`` replaces it
    only by the rule."""
    from bnpl.credit.evaluate import cross_validate

    fits = learners()
    unknown = [k for k in kinds if k not in fits]
    if unknown:
        raise ValueError(f"unknown model kind {unknown[0]!r}; known: {', '.join(fits)}")
    measured: dict[str, Any] = {k: fits[k] for k in kinds}  # name -> fit (the incumbent: no fit)
    incumbent = _incumbent(platform, ds)
    if incumbent is not None:
        version, model_in_service = incumbent
        measured[version] = lambda _train, m=model_in_service: m
    cv = cross_validate(ds, measured, n_splits=CV_FOLDS, n_repeats=1, seed=CV_SEED)
    out = []
    for kind in kinds:
        model = fits[kind](ds)
        meta = {
            "source": dict(source),
            "rows": len(ds.bad),
            "bad_rate": round(ds.bad_rate, 4),
            "fingerprint": ds.fingerprint,
            "training_window": source.get("window", "the whole table"),
            # per-fold AUCs and the folds' recipe: promote --best pairs models scored on the same folds
            "metrics": {
                "cv": f"{CV_FOLDS}-fold stratified, mean over folds",
                "cv_folds": CV_FOLDS,
                "cv_repeats": 1,
                "cv_seed": CV_SEED,
                **cv[kind],
            },
        }
        if incumbent is not None:
            meta["incumbent"] = {"version": incumbent[0], **cv[incumbent[0]]}

        def work(c: Ctx, model: Model = model, meta: dict[str, Any] = meta) -> str:
            return register_model(c, model, ds.name, meta)

        version = platform.run(SYSTEM, work)
        with platform.read() as c:
            out.append(entry(c.conn, version))
    return out


def _incumbent(platform: Platform, ds: Dataset) -> tuple[str, Model] | None:
    """The champion in service and its model, when it reads only columns this table has."""
    with platform.read() as c:
        champion, _ = scoring_versions(c.conn)
        if champion is None:
            return None
        model = loaded_models(platform).get(c.conn, champion)
    return (champion, model) if set(model.features) <= set(ds.frame.columns) else None


def register_model(ctx: Ctx, model: Model, dataset: str, meta: Mapping[str, Any]) -> str:
    """A fitted model enters the registry as a candidate; its version is returned."""
    return register(ctx.conn, model, dataset, dict(meta), ctx.now)


def change_role(ctx: Ctx, version: str, role: str, reason: str | None = None) -> dict[str, Any]:
    """Admin: make a model champion (the previous one retires), shadow, or retired; audited on
    each model's own chain, under row locks on the models that change (``reason``, when given,
    is recorded with the model's new role)."""
    ctx.actor.require("admin")
    if ctx.conn.dialect.name == "postgresql":  # one role change at a time: never two champions
        ctx.conn.execute(select(func.pg_advisory_xact_lock(ROLE_LOCK)))
    m = credit_models.c
    locked = (
        select(m.version, m.role).where((m.version == version) | (m.role == "champion")).order_by(m.version)
    )
    before = {r.version: r.role for r in ctx.conn.execute(locked.with_for_update())}
    result = promote(ctx.conn, version, role, ctx.now)
    after = {
        r.version: r.role for r in ctx.conn.execute(select(m.version, m.role).where(m.version.in_(before)))
    }
    for v in sorted(before):
        if before[v] != after[v]:
            audit.record(
                ctx,
                f"model:{v}",
                f"model.{after[v]}",
                "credit_model",
                v,
                {"role": before[v]},
                {"role": after[v]} | ({"reason": reason} if reason and v == version else {}),
            )
    return result


def set_role(platform: Platform, version: str, role: str) -> dict[str, Any]:
    result: dict[str, Any] = platform.run(ADMIN, lambda c: change_role(c, version, role))
    return result


def _evidence(e: Mapping[str, Any]) -> dict[str, Any]:
    """A registry entry's CV metrics as ``credit.selection`` reads them; per-fold AUCs pair only
    with another entry scored on the same folds (same data, same CV recipe)."""
    m = dict(e["metrics"])
    if m.get("auc_folds"):
        m["folds_key"] = (
            f"{e.get('fingerprint')}:{m.get('cv_folds')}x{m.get('cv_repeats')}:{m.get('cv_seed')}"
        )
    return m


def _registered(e: Mapping[str, Any]) -> tuple[str, int]:
    """When an entry was registered; its version's number breaks a tie (a fixed business clock)."""
    number = e["version"].rsplit("-", 1)[-1]
    return e["created_at"], int(number) if number.isdigit() else 0


def best_model(ctx: Ctx, dataset: str | None = None) -> dict[str, Any]:
    """Admin: promote to champion the model the selection rule recommends among the registered
    models trained on one table: the newest table (by fingerprint) with a model that can score
    checkouts (platform features, not retired, with CV metrics), of ``dataset`` if named. Entries
    registered before per-fold AUCs were stored are compared by the larger fold-AUC sd (the
    reason says so). Audited as any role change, with the reason."""
    ctx.actor.require("admin")
    eligible = [
        e
        for e in list_models(ctx.conn)
        if e["platform_features"] and e["role"] != "retired" and (dataset is None or e["dataset"] == dataset)
    ]
    measured = [e for e in eligible if {"auc", "ks", "brier"} <= set(e.get("metrics", {}))]
    of = f" trained on {dataset!r}" if dataset else ""
    if not measured:
        unmeasured = f" ({len(eligible)} without CV metrics)" if eligible else ""
        raise InvalidState(
            f"no model{of} to choose from{unmeasured}: train one on the platform's features "
            "(bnpl model train --dataset platform | synthetic)"
        )
    latest = max(measured, key=_registered)
    table = (latest["dataset"], latest.get("fingerprint"))
    group = [e for e in measured if (e["dataset"], e.get("fingerprint")) == table]
    evidence = {e["version"]: _evidence(e) for e in group}
    kept = _incumbent_evidence(ctx, group)
    if kept is not None:
        evidence[kept[0]] = kept[1]
    pick = recommend(
        evidence, {e["version"]: e["kind"] for e in group}, bar=None, keep=kept[0] if kept else None
    )
    roles = {e["version"]: e["role"] for e in list_models(ctx.conn)}
    changed = roles.get(pick.name) != "champion"
    if changed:
        change_role(ctx, pick.name, "champion", reason=pick.reason)
    return {
        "promoted": pick.name,
        "changed": changed,
        "reason": pick.reason,
        "auc": pick.auc,
        "ks": pick.ks,
        "brier": pick.brier,
        "dataset": latest["dataset"],
        "fingerprint": latest.get("fingerprint"),
        "compared": [e["version"] for e in group] + ([kept[0]] if kept else []),
        "left_out": [e["version"] for e in eligible if e not in group],
    }


def _incumbent_evidence(ctx: Ctx, group: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """The champion in service with its figures on the group's folds, when the group's models were
    trained with it in service (``train`` measured it beside them)."""
    champion, _ = scoring_versions(ctx.conn)
    kept = [e.get("incumbent") or {} for e in group]
    if champion is None or not kept or any(k.get("version") != champion for k in kept):
        return None
    m = dict(kept[0])
    m.pop("version")
    m["folds_key"] = _evidence(group[0]).get("folds_key")  # measured on the group's own folds
    return champion, m


def promote_best(platform: Platform, dataset: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = platform.run(ADMIN, lambda c: best_model(c, dataset))
    return result
