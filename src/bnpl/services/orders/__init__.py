"""The order lifecycle, by stage: checkout (authorize), fulfilment (capture, deliver, cancel,
expire), returns, conversion and early payoff, manual review, and the views every front end reads.

Callers use the package (``orders.authorize``, ``orders.get_order``); the stage modules share the
lock order and statements in ``records``."""

from bnpl.services.orders.batch import (
    MAX_BATCH,
    Answer,
    Keyed,
    authorize_many,
    capture_many,
    checkout_many,
    run_keyed,
    status_of,
)
from bnpl.services.orders.checkout import FEE_PAYERS, AuthorizeCommand, authorize
from bnpl.services.orders.fulfilment import (
    cancel,
    capture,
    deliver,
    expire,
    open_obligations,
    provisional_trial_end,
)
from bnpl.services.orders.payoff import convert_plan, payoff, payoff_quote
from bnpl.services.orders.returns import confirm_return, get_return, reject_return, request_return
from bnpl.services.orders.reviews import decide_review, list_reviews
from bnpl.services.orders.views import (
    MERCHANT_VISIBLE,
    NOT_AVAILABLE,
    RISK_CHECK,
    get_order,
    list_orders,
    order_rows,
    order_view,
    return_rows,
)

__all__ = [
    "FEE_PAYERS",
    "MAX_BATCH",
    "MERCHANT_VISIBLE",
    "NOT_AVAILABLE",
    "RISK_CHECK",
    "Answer",
    "AuthorizeCommand",
    "Keyed",
    "authorize",
    "authorize_many",
    "cancel",
    "capture",
    "capture_many",
    "checkout_many",
    "confirm_return",
    "convert_plan",
    "decide_review",
    "deliver",
    "expire",
    "get_order",
    "get_return",
    "list_orders",
    "list_reviews",
    "open_obligations",
    "order_rows",
    "order_view",
    "payoff",
    "payoff_quote",
    "provisional_trial_end",
    "reject_return",
    "request_return",
    "return_rows",
    "run_keyed",
    "status_of",
]
