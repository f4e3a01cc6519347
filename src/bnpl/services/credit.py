"""Credit use cases: train and register models, promote, rescore the population, assess a checkout,
and review limits.

The checkout path is one statement: the champion's and shadow models' versions, with the
customer's stored profile (features as of the last rescoring). The features are overlaid with
what the locked account says now (utilisation) and scored in-process by the cached champion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import bindparam, func, select

from bnpl.credit.assess import assess, score_population
from bnpl.credit.dataset import Dataset
from bnpl.credit.features import FEATURE_NAMES, NEUTRAL, compute_features
from bnpl.credit.registry import Model, entry, list_models, promote, register, scoring_versions
from bnpl.credit.selection import recommend
from bnpl.domain.credit import CreditAssessment, CreditPolicy, LimitReview, monthly_spend, review_limit
from bnpl.domain.decision import REASONS, score_reasons
from bnpl.domain.errors import InvalidState, NotFound
from bnpl.runtime import ADMIN, SYSTEM, Ctx, Platform
from bnpl.services import audit
from bnpl.services.access import may_see_customer
from bnpl.services.boot import loaded_models
from bnpl.services.credit_lines import days_overdue, lock_account, overdue_orders
from bnpl.store.frames import as_date
from bnpl.store.tables import credit_accounts, credit_models, credit_profiles, customers

RESCORE_CHUNK = 5_000
CV_FOLDS, CV_SEED = 5, 42  # how train() measures a model; the same data gives the same folds
ROLE_LOCK = 0x6273_6E70_726F_6C  # "bnprol"


# --- training and the registry ------------------------------------------------------------------


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
    """Fit each kind on the whole table, measure it by 5-fold CV, and register it as a candidate."""
    from bnpl.credit.evaluate import cross_validate

    fits = learners()
    unknown = [k for k in kinds if k not in fits]
    if unknown:
        raise ValueError(f"unknown model kind {unknown[0]!r}; known: {', '.join(fits)}")
    cv = cross_validate(ds, {k: fits[k] for k in kinds}, n_splits=CV_FOLDS, n_repeats=1, seed=CV_SEED)
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

        def work(c: Ctx, model: Model = model, meta: dict[str, Any] = meta) -> str:
            return register_model(c, model, ds.name, meta)

        version = platform.run(SYSTEM, work)
        with platform.read() as c:
            out.append(entry(c.conn, version))
    return out


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
    pick = recommend(
        {e["version"]: _evidence(e) for e in group}, {e["version"]: e["kind"] for e in group}, bar=None
    )
    current = next(e for e in group if e["version"] == pick.name)
    changed = current["role"] != "champion"
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
        "compared": [e["version"] for e in group],
        "left_out": [e["version"] for e in eligible if e not in group],
    }


def promote_best(platform: Platform, dataset: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = platform.run(ADMIN, lambda c: best_model(c, dataset))
    return result


def customer_credit(ctx: Ctx, customer_id: int) -> dict[str, Any]:
    """What the champion says of a customer now, as the checkout would: grade, score and the
    reasons that cost the most points. Who sees whom is ``services.access``."""
    a = ctx.actor
    may_see_customer(ctx, customer_id)
    account = ctx.conn.execute(
        select(credit_accounts).where(credit_accounts.c.customer_id == customer_id)
    ).first()
    if account is None:
        raise NotFound(f"customer {customer_id} not found")
    profile = ctx.conn.execute(
        select(credit_profiles.c.as_of, credit_profiles.c.features).where(
            credit_profiles.c.customer_id == customer_id
        )
    ).first()
    features = profile.features if profile else None
    credit = assess_checkout(
        ctx, features, account, days_overdue(ctx, customer_id), ctx.settings.credit_policy
    )
    view: dict[str, Any] = {
        "customer_id": customer_id,
        "limit": account.credit_limit,
        "profile_as_of": profile.as_of if profile else None,
    }
    if credit is None:
        return view | {"assessed": False}
    policy = ctx.settings.credit_policy
    view |= {"assessed": True, "thin_file": credit.thin_file}
    if credit.thin_file:  # a score without repayment history means little: say what applies instead
        view |= {
            "score": None,
            "grade": None,
            "reasons": [asdict(REASONS["STARTER_LIMIT"])],
            "starter_limit": policy.starter_limit,
            "starter_blocked_categories": sorted(policy.starter_blocked_categories),
        }
    else:
        view |= {
            "score": credit.score,
            "grade": credit.grade.value,
            "reasons": [asdict(r) for r in score_reasons(credit)],
        }
    if a.role in ("admin", "system"):
        view |= {"model_version": credit.model_version, "pd": round(credit.pd, 6), "shadow": credit.shadow}
    return view


# --- the checkout ------------------------------------------------------------------------------

_SCORING = select(credit_models.c.version, credit_models.c.role).where(
    credit_models.c.role.in_(("champion", "shadow"))
)


def live_features(
    profile: Mapping[str, float] | None, account: Any, days_overdue: int = 0
) -> dict[str, float]:
    """The stored profile (or, never rescored, the neutral values of a customer with no history),
    with utilisation and days past due as they are now."""
    row = (dict(NEUTRAL) | {"account_age_days": 0.0}) if profile is None else dict(profile)
    limit, used = account.credit_limit, account.outstanding
    row["utilisation"] = used / limit if limit > 0 else float(used > 0)
    row["current_dpd"] = float(days_overdue)
    row["max_dpd_365d"] = max(row.get("max_dpd_365d", 0.0), float(days_overdue))
    return row


def scoring_roles(ctx: Ctx) -> tuple[str | None, bool]:
    """The champion's version, and whether any model scores in shadow."""
    rows = ctx.conn.execute(_SCORING).all()
    champion = next((r.version for r in rows if r.role == "champion"), None)
    return champion, any(r.role == "shadow" for r in rows)


def assess_checkout(
    ctx: Ctx,
    profile: Mapping[str, float] | None,
    account: Any,
    days_overdue: int,
    policy: CreditPolicy,
    roles: tuple[str | None, bool] | None = None,
) -> CreditAssessment | None:
    """The champion's assessment of a customer now, from their stored profile and locked account,
    with the shadow models' PDs beside it; None when no champion is promoted (the limit alone
    decides). ``roles`` (champion, any shadow?) saves a round trip when the caller read them."""
    if ctx.models is None:
        return None
    champion, any_shadow = roles if roles is not None else scoring_roles(ctx)
    if champion is None:
        return None
    features = live_features(profile, account, days_overdue)
    shadows = [r.version for r in ctx.conn.execute(_SCORING) if r.role == "shadow"] if any_shadow else []
    shadow = {v: round(float(ctx.models.get(ctx.conn, v).predict_pd_one(features)), 6) for v in shadows}
    return assess(ctx.models.get(ctx.conn, champion), champion, features, policy, shadow)


def assessment_record(credit: CreditAssessment | None) -> dict[str, Any] | None:
    if credit is None:
        return None
    record = asdict(credit)
    record["pd"] = round(credit.pd, 6)
    record["grade"] = credit.grade.value
    return record


# --- rescoring the population -----------------------------------------------------------------


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def rescore(
    platform: Platform, as_of: datetime | None = None, on_chunk: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Recompute every customer's features as of ``as_of`` (now) and store them with the
    champion's PD and grade. Set-based per chunk of customers; each chunk its own transaction."""
    with platform.read() as c:
        as_of = as_of or c.now
        champion, _ = scoring_versions(c.conn)
        ids = list(c.conn.execute(select(customers.c.id).order_by(customers.c.id)).scalars())
        model = loaded_models(platform).get(c.conn, champion) if champion else None
    grades: dict[str, int] = {}
    for chunk in _chunks(ids, RESCORE_CHUNK):
        with platform.read() as c:
            frame = compute_features(c.conn, as_of, chunk)
        scored = score_population(model, frame) if model is not None else None
        n = len(frame)
        # whole columns to plain Python once: a pandas lookup per row cost most of a rescore
        pd_bps = [None] * n if scored is None else [int(v) for v in scored["pd_bps"].reindex(frame.index)]
        grade = [None] * n if scored is None else [str(v) for v in scored["grade"].reindex(frame.index)]
        rows = [
            {
                "customer_id": int(cid),
                "as_of": as_of,
                "features": dict(zip(FEATURE_NAMES, values, strict=True)),
                "model_version": champion,
                "pd_bps": pd_bps[i],
                "grade": grade[i],
                "updated_at": as_of,
            }
            for i, (cid, values) in enumerate(
                zip(frame.index, frame.to_numpy(dtype=float).tolist(), strict=True)
            )
        ]
        if scored is not None:
            for g, n in scored["grade"].value_counts().items():
                grades[str(g)] = grades.get(str(g), 0) + int(n)

        def write(c: Ctx, rows: list[dict[str, Any]] = rows, chunk: list[int] = chunk) -> None:
            c.conn.execute(credit_profiles.delete().where(credit_profiles.c.customer_id.in_(chunk)))
            if rows:
                c.conn.execute(credit_profiles.insert(), rows)

        platform.run(SYSTEM, write)
        if on_chunk:
            on_chunk(len(chunk))
    return {"customers": len(ids), "model": champion, "as_of": as_of, "grades": dict(sorted(grades.items()))}


# --- the periodic limit review ---------------------------------------------------------------

_PROFILES = select(credit_profiles.c.customer_id, credit_profiles.c.features, credit_profiles.c.grade).where(
    credit_profiles.c.grade.is_not(None), credit_profiles.c.customer_id.in_(bindparam("ids", expanding=True))
)


def review_limits(platform: Platform, policy: CreditPolicy = CreditPolicy()) -> dict[str, Any]:
    """Raise clean payers' limits and cut deteriorated ones, from the latest rescoring; never below
    what is in use. Each change is one transaction under the account lock, audited. A snapshot of
    every account is reviewed first, so only lines that would change take a lock (under the lock
    the review runs again on the current account)."""
    with platform.read() as c:
        ids = list(
            c.conn.execute(
                select(credit_profiles.c.customer_id)
                .where(credit_profiles.c.grade.is_not(None))
                .order_by(credit_profiles.c.customer_id)
            ).scalars()
        )
    counts = {"assign": 0, "raise": 0, "cut": 0, "hold": 0, "keep": 0}
    for chunk in _chunks(ids, RESCORE_CHUNK):
        with platform.read() as c:
            profiles = c.conn.execute(_PROFILES, {"ids": chunk}).all()
            accounts = {
                a.customer_id: a
                for a in c.conn.execute(
                    select(credit_accounts).where(credit_accounts.c.customer_id.in_(chunk))
                )
            }
            overdue = _days_overdue_of(c, chunk)
            now = c.now
        for p in profiles:
            account = accounts[p.customer_id]
            if account.state != "active":
                counts["keep"] += 1
                continue
            snapshot = _review(account, p, overdue.get(p.customer_id, 0), now, policy)
            if snapshot.new_limit == account.credit_limit:  # nothing to write, no lock to take
                counts[snapshot.change] += 1
            else:
                counts[platform.run(SYSTEM, partial(_review_one, profile=p, policy=policy))] += 1
    return {"reviewed": len(ids), **counts}


def _days_overdue_of(ctx: Ctx, customer_ids: list[int]) -> dict[int, int]:
    """Days past due of each customer's oldest unpaid bill, for a snapshot review."""
    q = overdue_orders(one_customer=False)
    rows = ctx.conn.execute(
        select(q.c.customer_id, func.min(q.c.first_due))
        .where(q.c.customer_id.in_(customer_ids))
        .group_by(q.c.customer_id),
        {"today": ctx.today},
    )
    return {cid: (ctx.today - as_date(first)).days for cid, first in rows if first is not None}


def _review(account: Any, profile: Any, overdue: int, now: datetime, policy: CreditPolicy) -> LimitReview:
    f = profile.features
    raised = account.limit_raised_at
    if raised is not None and raised.tzinfo is None:
        raised = raised.replace(tzinfo=UTC)
    return review_limit(
        limit=account.credit_limit,
        in_use=account.outstanding + account.holds,
        grade=profile.grade,
        monthly_spend=monthly_spend(f) or 0,
        bills_due=int(f.get("obligations_due", 0)),
        on_time_ratio=float(f.get("on_time_ratio", 1.0)),
        current_dpd=overdue,
        max_dpd_365d=max(int(f.get("max_dpd_365d", 0)), overdue),
        days_since_raise=None if raised is None else (now - raised).days,
        limit_given=account.limit_set_by is not None,
        policy=policy,
    )


def _review_one(ctx: Ctx, profile: Any, policy: CreditPolicy) -> str:
    account = lock_account(ctx, profile.customer_id)
    if account.state != "active":
        return "keep"
    overdue = days_overdue(ctx, profile.customer_id)  # today, under the lock: not the profile's
    review = _review(account, profile, overdue, ctx.now, policy)
    if review.new_limit != account.credit_limit:
        ctx.conn.execute(
            credit_accounts.update()
            .where(credit_accounts.c.customer_id == profile.customer_id)
            .values(
                credit_limit=review.new_limit,
                updated_at=ctx.now,
                limit_set_by="policy",
                **({"limit_raised_at": ctx.now} if review.new_limit > account.credit_limit else {}),
            )
        )
        audit.record(
            ctx,
            f"customer:{profile.customer_id}",
            f"limit.{review.change}",
            "credit_account",
            profile.customer_id,
            {"credit_limit": account.credit_limit},
            {"credit_limit": review.new_limit, "reason": review.reason},
        )
    return review.change
