"""The order lifecycle as an explicit state machine, and the rules for items and returns."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from bnpl.domain.errors import InvalidInput, InvalidState, ReturnTooLarge
from bnpl.domain.money import require_positive


class OrderStatus(StrEnum):
    AUTHORIZED = "authorized"  # hold on the limit
    REVIEW = "review"  # hold on the limit while an analyst decides
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    CAPTURED = "captured"  # shipped: principal receivable, merchant owed
    DELIVERED = "delivered"  # trial window running or over
    RETURNED = "returned"  # everything came back


# statuses in which the order's amount is held on the customer's credit line
HOLDING_STATUSES = (OrderStatus.AUTHORIZED.value, OrderStatus.REVIEW.value)


# Goods that turn into cash easily: the target of resale and cash-out (套现) fraud.
RESALE_CATEGORIES = frozenset({"phones", "gold", "gift_cards", "top_up_cards"})


class Channel(StrEnum):
    LIVE_STREAM = "live_stream"
    SHORT_VIDEO = "short_video"
    MALL = "mall"


# action -> states it may start from, and the state it leads to (None: unchanged)
TRANSITIONS: dict[str, tuple[frozenset[OrderStatus], OrderStatus | None]] = {
    "capture": (frozenset({OrderStatus.AUTHORIZED}), OrderStatus.CAPTURED),
    "cancel": (frozenset({OrderStatus.AUTHORIZED, OrderStatus.REVIEW}), OrderStatus.CANCELLED),
    "expire": (frozenset({OrderStatus.AUTHORIZED, OrderStatus.REVIEW}), OrderStatus.EXPIRED),
    "approve_review": (frozenset({OrderStatus.REVIEW}), OrderStatus.AUTHORIZED),
    "decline_review": (frozenset({OrderStatus.REVIEW}), OrderStatus.DECLINED),
    "deliver": (frozenset({OrderStatus.CAPTURED}), OrderStatus.DELIVERED),
    "request_return": (frozenset({OrderStatus.CAPTURED, OrderStatus.DELIVERED}), None),
    "convert_plan": (frozenset({OrderStatus.CAPTURED, OrderStatus.DELIVERED}), None),
    "payoff": (frozenset({OrderStatus.CAPTURED, OrderStatus.DELIVERED}), None),
}


ACTION_WORDS = {
    "request_return": "return items of",
    "convert_plan": "convert the plan of",
    "payoff": "pay off",
    "approve_review": "approve",
    "decline_review": "decline",
}


def transition(status: OrderStatus, action: str) -> OrderStatus:
    """The status after ``action``, or :class:`InvalidState` if it is not allowed now."""
    sources, target = TRANSITIONS[action]
    if status not in sources:
        raise InvalidState(f"cannot {ACTION_WORDS.get(action, action)} an order that is {status.value}")
    return target or status


@dataclass(frozen=True, slots=True)
class Item:
    sku: str
    category: str
    unit_price: int
    quantity: int

    @property
    def amount(self) -> int:
        return self.unit_price * self.quantity


MAX_QUANTITY = 10_000


def category_key(name: str) -> str:
    """One spelling per category ("Gift Cards", "gift-cards", full-width "ｇｉｆｔ＿ｃａｒｄｓ" are all
    "gift_cards"), so caps and the resale list cannot be dodged by case, spaces or punctuation."""
    return re.sub(r"[\W_]+", "_", unicodedata.normalize("NFKC", name).casefold()).strip("_")


def normalise_items(items: list[Item]) -> list[Item]:
    return [replace(i, category=category_key(i.category)) for i in items]


def validate_items(items: list[Item], merchant_categories: frozenset[str]) -> int:
    """Checks a basket and returns its total in fen."""
    if not items:
        raise InvalidInput("an order needs at least one item")
    skus = [i.sku for i in items]
    if len(set(skus)) != len(skus):
        raise InvalidInput("each sku may appear once per order; use quantity")
    for item in items:
        require_positive(item.unit_price, f"unit price of {item.sku}")
        require_positive(item.quantity, f"quantity of {item.sku}")
        if item.quantity > MAX_QUANTITY:
            raise InvalidInput(f"quantity of {item.sku} must be at most {MAX_QUANTITY}")
        if merchant_categories and category_key(item.category) not in {
            category_key(c) for c in merchant_categories
        }:
            raise InvalidInput(f"the merchant does not sell category {item.category!r}")
    return require_positive(sum(i.amount for i in items), "order total")


@dataclass(frozen=True, slots=True)
class ItemHolding:
    """An order line with what has already come back or is on its way back."""

    sku: str
    unit_price: int
    quantity: int
    returned: int
    pending: int

    @property
    def returnable(self) -> int:
        return self.quantity - self.returned - self.pending


def return_amount(holdings: list[ItemHolding], requested: dict[str, int]) -> int:
    """Value in fen of returning ``requested`` (sku -> quantity); refuses more than was bought."""
    if not requested:
        raise InvalidInput("a return needs at least one item")
    by_sku = {h.sku: h for h in holdings}
    total = 0
    for sku, qty in requested.items():
        require_positive(qty, f"return quantity of {sku}")
        holding = by_sku.get(sku)
        if holding is None:
            raise InvalidInput(f"sku {sku!r} is not in this order")
        if qty > holding.returnable:
            raise ReturnTooLarge(f"cannot return {qty} of {sku!r}: {holding.returnable} left to return")
        total += holding.unit_price * qty
    return total


def within_trial(today: date, trial_ends_on: date | None) -> bool:
    """Before delivery there is no trial end yet, and a return (refusal) is always allowed."""
    return trial_ends_on is None or today <= trial_ends_on
