"""Domain errors with stable machine-readable codes.

The API turns them into problem+json (the code becomes the problem type), the CLI into a
one-line message. The HTTP status lives here so every front end agrees on it.
"""

from __future__ import annotations


class DomainError(Exception):
    """A refused request. ``code`` is stable; ``status`` is the HTTP status it maps to."""

    code = "domain-error"
    status = 400

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(DomainError):
    code = "invalid-input"
    status = 422


class InvalidAmount(InvalidInput):
    code = "invalid-amount"


class CurrencyMismatch(InvalidInput):
    code = "currency-mismatch"


class NotFound(DomainError):
    code = "not-found"
    status = 404


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class InvalidState(DomainError):
    """The action is not allowed in the current state of the order, return or account."""

    code = "invalid-state"
    status = 409


class ReturnTooLarge(InvalidInput):
    code = "return-exceeds-purchase"


class IdempotencyConflict(DomainError):
    code = "idempotency-key-reused"
    status = 409


class Conflict(DomainError):
    code = "conflict"
    status = 409


def require_in_range(value: int, what: str, low: int, high: int) -> int:
    """``value`` if it is a whole number (not a bool) from ``low`` to ``high``; else InvalidInput."""
    if type(value) is not int or not low <= value <= high:
        raise InvalidInput(f"{what} must be an integer from {low} to {high}")
    return value
