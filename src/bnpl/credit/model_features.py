"""What a credit model may read: the platform's own features (``credit.features``) and the host
marketplace's consented feed (``credit.feed_features``), side by side, as of one moment.

With them, what the checkout itself asks for (the order's amount). A model trained on the
platform's features, with or without the others, may score checkouts; one that reads a feed feature
scores a shopper new to pay-later whose feed is in use, and the starter policy guards only those
without one (``domain.credit.is_thin_file``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy.engine import Connection

from bnpl.credit.features import FEATURE_NAMES, FEATURES, FeatureSpec, compute_features
from bnpl.credit.feed_features import FEED_FEATURE_NAMES, FEED_FEATURES, feed_frame

# what the checkout itself asks for: a loan's risk grows with its size. A population rescoring has no
# order: it scores a typical first basket (the neutral value)
ORDER_AMOUNT = "order_amount"
CHECKOUT_FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec(ORDER_AMOUNT, "Size of this order", "本单金额", +1, neutral=200_00),
)
MODEL_FEATURES: tuple[FeatureSpec, ...] = (*FEATURES, *FEED_FEATURES, *CHECKOUT_FEATURES)
MODEL_FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in MODEL_FEATURES)
MODEL_NEUTRAL: dict[str, float] = {f.name: f.neutral for f in MODEL_FEATURES}
SPECS: dict[str, FeatureSpec] = {f.name: f for f in MODEL_FEATURES}


def is_platform_model(features: Iterable[str]) -> bool:
    """A model may score checkouts when it reads every platform feature and nothing but those and
    the feed's (a model on an analyst's own table cannot be fed at checkout)."""
    names = set(features)
    return set(FEATURE_NAMES) <= names <= set(MODEL_FEATURE_NAMES)


def reads_feed(features: Iterable[str]) -> bool:
    return bool(set(features) & set(FEED_FEATURE_NAMES))


def model_features(
    conn: Connection, as_of: datetime, customer_ids: Sequence[int] | None = None
) -> pd.DataFrame:
    """``compute_features`` with the feed features beside them (neutral without consent or data)
    and the checkout's at their neutral values: index ``customer_id``, columns
    ``MODEL_FEATURE_NAMES``, floats, never NaN."""
    own = compute_features(conn, as_of, customer_ids)
    feed = feed_frame(conn, as_of, [int(i) for i in own.index])
    joined = own.join(feed[list(FEED_FEATURE_NAMES)], how="left")
    return joined.reindex(columns=list(MODEL_FEATURE_NAMES)).astype(float).fillna(MODEL_NEUTRAL)
