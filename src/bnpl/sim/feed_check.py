"""The honesty check on the simulated marketplace feed: how well the feed features alone rank loans.

For every shopper who asked for pay-later in the season, take their *first* pay-later checkout,
the feed features the platform would have read at that moment (``services.marketplace.
feed_features``: consent, ingestion time and event time all before it) and that checkout's drawn
fate (``fate_bad``: the truth the simulator keeps, drawn from the loan's true PD, known for a
declined checkout too, so approvals do not bias it). A logistic regression on the features of
shoppers whose feed status was ``ok``, cross-validated in 5 stratified folds, scores each shopper
out of fold; ``feed_only_auc`` is the AUC of those scores against the fates.

The digital-footprint literature reports AUCs of 0.62–0.78 for such data alone (Berg et al. 2020:
≈0.70). Far above that, the simulated feed would be leaking the hidden traits; far below, it would
carry no signal worth consent. ``oracle_auc`` on the same checkouts is the ceiling (the true PD).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bnpl.credit.feed_features import FEED_FEATURE_NAMES
from bnpl.runtime import Ctx
from bnpl.services import marketplace

FOLDS = 5
# counts and amounts: on a log scale, so a few heavy shoppers do not dominate the fit
LOGGED = (
    "mkt_account_age_days",
    "mkt_payment_methods",
    "mkt_addresses_12m",
    "mkt_orders_per_30d_6m",
    "mkt_orders_per_30d_12m",
    "mkt_spend_per_30d_12m",
    "mkt_median_basket_12m",
    "mkt_spend_to_basket_12m",
    "mkt_payment_failed_90d",
    "mkt_live_minutes_per_week_4w",
)
LABEL = "fate_bad of each shopper's first pay-later checkout (drawn from its true PD)"
MODEL = f"logistic regression on the feed features, {FOLDS}-fold stratified cross-validation"


def first_checkouts(intents: pd.DataFrame, book: pd.DataFrame) -> pd.DataFrame:
    """Each shopper's first pay-later checkout: its customer, moment, drawn fate and true PD."""
    if not len(intents) or "checkout_at" not in intents:
        return pd.DataFrame(columns=["customer_id", "checkout_at", "fate_bad", "true_pd"])
    tried = intents[intents["order_id"].notna() & intents["checkout_at"].notna()]
    first = tried.drop_duplicates("shopper", keep="first")  # intents are in the order they happened
    customer = book.set_index("order_id")["customer_id"]
    return pd.DataFrame(
        {
            "customer_id": first["order_id"].astype(int).map(customer).to_numpy(),
            "checkout_at": first["checkout_at"].to_numpy(),
            "fate_bad": first["fate_bad"].astype(bool).to_numpy(),
            "true_pd": first["true_pd"].astype(float).to_numpy(),
        }
    )


def feed_only(ctx: Ctx, intents: pd.DataFrame, book: pd.DataFrame) -> dict[str, Any]:
    """``feed_only_auc`` and how it was measured (see the module's docstring)."""
    firsts = first_checkouts(intents, book)
    rows, statuses = [], []
    for customer_id, at in zip(firsts["customer_id"], firsts["checkout_at"], strict=True):
        moment = datetime.fromisoformat(str(at))
        features = marketplace.feed_features(ctx, int(customer_id), moment)
        statuses.append(features["feed_status"])
        rows.append([float(features[name]) for name in FEED_FEATURE_NAMES])
    status = pd.Series(statuses, dtype=object)
    ok = (status == "ok").to_numpy()
    detail: dict[str, Any] = {
        "label": LABEL,
        "model": MODEL,
        "first_checkouts": len(firsts),
        "by_feed_status": {str(k): int(v) for k, v in status.value_counts().sort_index().items()},
        "shoppers": int(ok.sum()),
        "bad": int(firsts["fate_bad"].to_numpy()[ok].sum()) if len(firsts) else 0,
        "oracle_auc": None,
    }
    y = firsts["fate_bad"].to_numpy()[ok].astype(int)
    if min(int(y.sum()), int(len(y) - y.sum())) < FOLDS:
        return {"feed_only_auc": None, "feed_only": detail}
    x = pd.DataFrame(np.array(rows)[ok], columns=list(FEED_FEATURE_NAMES))
    for name in LOGGED:
        x[name] = np.log1p(x[name].clip(lower=0))
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2_000))
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=0)
    scores = cross_val_predict(model, x.to_numpy(), y, cv=folds, method="predict_proba")[:, 1]
    detail["oracle_auc"] = round(float(roc_auc_score(y, firsts["true_pd"].to_numpy()[ok])), 4)
    return {"feed_only_auc": round(float(roc_auc_score(y, scores)), 4), "feed_only": detail}
