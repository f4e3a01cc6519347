"""Credit use cases: what a customer's credit looks like, assess a checkout, rescore the population,
and review limits (training and the model registry are ``services.model_registry``).

The checkout reads the champion's and shadow models' versions with the customer's stored profile
(features as of the last rescoring), overlaid with what the locked account says now (utilisation)
and with the marketplace feed's features as they may be used now (``checkout_feed``: consent is
checked at the moment of the checkout, so a withdrawal counts from the next one), and scores them
in-process with the cached champion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import bindparam, func, select

from bnpl.credit.assess import assess, score_population
from bnpl.credit.features import NEUTRAL
from bnpl.credit.feed_features import FeedFeatures, load_feeds
from bnpl.credit.feed_features import compute as compute_feed
from bnpl.credit.model_features import MODEL_FEATURE_NAMES, MODEL_NEUTRAL, ORDER_AMOUNT, model_features
from bnpl.credit.registry import scoring_versions
from bnpl.domain.credit import CreditAssessment, CreditPolicy, LimitReview, monthly_spend, review_limit
from bnpl.domain.decision import REASONS, score_reasons
from bnpl.domain.errors import NotFound
from bnpl.runtime import SYSTEM, Ctx, Platform
from bnpl.services import audit
from bnpl.services.access import may_see_customer
from bnpl.services.boot import loaded_models
from bnpl.services.credit_lines import days_overdue, lock_account, overdue_orders
from bnpl.store.frames import as_date
from bnpl.store.tables import credit_accounts, credit_models, credit_profiles, customers

RESCORE_CHUNK = 5_000


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


def checkout_feed(ctx: Ctx, customer_id: int) -> FeedFeatures:
    """The marketplace feed's features of a customer as they may be used now (neutral, with the
    reason, without consent or data)."""
    return checkout_feeds(ctx, [customer_id])[customer_id]


def checkout_feeds(ctx: Ctx, customer_ids: Sequence[int]) -> dict[int, FeedFeatures]:
    """``checkout_feed`` for many customers at once (one query per feed table)."""
    now = ctx.now.astimezone(UTC)
    return {cid: compute_feed(feed, now) for cid, feed in load_feeds(ctx.conn, customer_ids, now).items()}


def live_features(
    profile: Mapping[str, float] | None,
    account: Any,
    days_overdue: int = 0,
    feed: FeedFeatures | None = None,
    amount: int | None = None,
) -> dict[str, float]:
    """The stored profile (or, never rescored, the neutral values of a customer with no history),
    with utilisation and days past due as they are now, and the feed's features as they are now
    (replacing the profile's: consent may have changed since)."""
    row = (dict(NEUTRAL) | {"account_age_days": 0.0}) if profile is None else dict(profile)
    if feed is not None:
        row |= feed.values
    row[ORDER_AMOUNT] = float(amount) if amount is not None else MODEL_NEUTRAL[ORDER_AMOUNT]
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
    feed: FeedFeatures | None = None,
    amount: int | None = None,
) -> CreditAssessment | None:
    """The champion's assessment of a customer now, from their stored profile, locked account and
    marketplace feed, with the shadow models' PDs beside it; None when no champion is promoted (the
    limit alone decides). ``amount`` is the order's (None: a typical first basket). ``roles``
    (champion, any shadow?) and ``feed`` save round trips when the caller read them."""
    if ctx.models is None:
        return None
    champion, any_shadow = roles if roles is not None else scoring_roles(ctx)
    if champion is None:
        return None
    feed = feed if feed is not None else checkout_feed(ctx, account.customer_id)
    features = live_features(profile, account, days_overdue, feed, amount)
    shadows = [r.version for r in ctx.conn.execute(_SCORING) if r.role == "shadow"] if any_shadow else []
    shadow = {v: round(float(ctx.models.get(ctx.conn, v).predict_pd_one(features)), 6) for v in shadows}
    return assess(ctx.models.get(ctx.conn, champion), champion, features, policy, shadow, feed.status.value)


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
    """Recompute every customer's features (their own and the feed's) as of ``as_of`` (now) and
    store them with the champion's PD and grade. Set-based per chunk of customers; each chunk its
    own transaction."""
    with platform.read() as c:
        as_of = as_of or c.now
        champion, _ = scoring_versions(c.conn)
        ids = list(c.conn.execute(select(customers.c.id).order_by(customers.c.id)).scalars())
        model = loaded_models(platform).get(c.conn, champion) if champion else None
    grades: dict[str, int] = {}
    for chunk in _chunks(ids, RESCORE_CHUNK):
        with platform.read() as c:
            frame = model_features(c.conn, as_of, chunk)
        scored = score_population(model, frame) if model is not None else None
        n = len(frame)
        # whole columns to plain Python once: a pandas lookup per row cost most of a rescore
        pd_bps = [None] * n if scored is None else [int(v) for v in scored["pd_bps"].reindex(frame.index)]
        grade = [None] * n if scored is None else [str(v) for v in scored["grade"].reindex(frame.index)]
        rows = [
            {
                "customer_id": int(cid),
                "as_of": as_of,
                "features": dict(zip(MODEL_FEATURE_NAMES, values, strict=True)),
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
