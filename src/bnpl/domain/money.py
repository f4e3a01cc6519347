"""Money as an integer count of minor units (fen) with its currency. Floats are refused.

Rates are ``Decimal``; turning a rate times an amount into money rounds explicitly
(half-up to the fen) in one place, :func:`apply_rate`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from bnpl.domain.errors import CurrencyMismatch, InvalidAmount

DEFAULT_CURRENCY = "CNY"
SUPPORTED_CURRENCIES = frozenset({"CNY"})


@dataclass(frozen=True, slots=True, order=True)
class Money:
    minor: int
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        # bool is an int subclass; float and Decimal are refused so that no float touches money.
        if type(self.minor) is not int:
            raise InvalidAmount(f"money must be an integer number of minor units, got {self.minor!r}")
        if self.currency not in SUPPORTED_CURRENCIES:
            raise CurrencyMismatch(f"unsupported currency {self.currency!r}")

    @classmethod
    def zero(cls, currency: str = DEFAULT_CURRENCY) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def is_positive(self) -> bool:
        return self.minor > 0

    def __str__(self) -> str:
        sign = "-" if self.minor < 0 else ""
        yuan, fen = divmod(abs(self.minor), 100)
        return f"{sign}{yuan}.{fen:02d} {self.currency}"


MAX_AMOUNT = 10**12  # fen; far above any order, far below 64-bit overflow


def require_positive(amount: int, what: str = "amount") -> int:
    if type(amount) is not int:
        raise InvalidAmount(f"{what} must be an integer number of fen")
    if not 0 < amount <= MAX_AMOUNT:
        raise InvalidAmount(f"{what} must be from 1 to {MAX_AMOUNT}, got {amount}")
    return amount


def apply_rate(amount: int, rate: Decimal) -> int:
    """``amount × rate`` rounded half-up to the fen."""
    return int((Decimal(amount) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def split_evenly(total: int, parts: int) -> list[int]:
    """Split ``total`` fen into ``parts`` equal shares; the remainder goes to the last share."""
    if parts <= 0:
        raise InvalidAmount("parts must be positive")
    base = total // parts
    shares = [base] * parts
    shares[-1] += total - base * parts
    return shares


def format_fen(amount: int) -> str:
    """Fen as the customer reads them in a message: ¥1,234.56."""
    sign = "-" if amount < 0 else ""
    yuan, fen = divmod(abs(amount), 100)
    return f"{sign}¥{yuan:,}.{fen:02d}"


_YUAN = re.compile(r"(\d{1,9})(?:\.(\d{1,2}))?")


def parse_yuan(text: str) -> int | None:
    """What staff type as yuan ("120", "120.5", "1,200.50", "¥1,200.50") in fen; None for anything
    else (ASCII digits only, at most two decimals, under a billion yuan). The inverse of format_fen
    for amounts that are not negative."""
    found = _YUAN.fullmatch(text.strip().removeprefix("¥").replace(",", ""))
    if found is None:
        return None
    return int(found[1]) * 100 + int((found[2] or "").ljust(2, "0"))
