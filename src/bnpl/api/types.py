"""Bounded scalar types shared by the API's request bodies, and the rule that text is valid Unicode.

Every integer the API accepts has a maximum. Past 2**63 SQLite and PostgreSQL overflow, and past
2**64 the idempotency fingerprint cannot even encode the body, so an unbounded integer is a 500
waiting to happen; ids stop at 2**62 (as the console's do) and money at 10**12 fen.
``tests/api/test_bounds.py`` walks the OpenAPI schema and fails on any integer without a maximum,
so a new field cannot forget.

A JSON string may spell a lone UTF-16 surrogate (``"\\ud800"``): Python decodes it, but it cannot
be encoded as UTF-8, so it could be neither hashed, stored nor sent back. ``refuse_unencodable``
turns it into a 422 for every string of a request body (``schemas.Strict`` runs it).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import Field, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

MAX_ID = 2**62
MAX_FEN = 10**12
MAX_QUANTITY = 10_000
MAX_LIMIT = 100_000_000  # a credit line or a ceiling, in fen (1,000,000 yuan)

Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
Fen = Annotated[StrictInt, Field(gt=0, le=MAX_FEN, description="amount in fen (1 yuan = 100 fen)")]
LimitFen = Annotated[StrictInt, Field(ge=0, le=MAX_LIMIT, description="fen")]
Quantity = Annotated[StrictInt, Field(gt=0, le=MAX_QUANTITY)]
# printable text: NUL and other control characters are refused (PostgreSQL cannot store NUL)
Text = Annotated[StrictStr, Field(pattern=r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$")]


def _unencodable(value: Any, where: str) -> str | None:
    """The path of the first string (or object key) in ``value`` that is not valid Unicode."""
    if isinstance(value, str):
        if value.isascii():
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where or "body"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and _unencodable(key, where) is not None:
                return path.encode("utf-8", "backslashreplace").decode()
            found = _unencodable(item, path)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _unencodable(item, f"{where}.{i}" if where else str(i))
            if found is not None:
                return found
    return None


def refuse_unencodable(value: Any) -> Any:
    """``value`` unchanged, or a validation error naming the first string that UTF-8 cannot encode."""
    try:  # the common case in one C call (orjson refuses a lone surrogate); the walk finds where
        orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
        return value
    except TypeError:  # orjson.JSONEncodeError is one; so is a type orjson does not know
        pass
    where = _unencodable(value, "")
    if where is not None:
        raise PydanticCustomError(
            "string_unicode",
            "{where}: text must be valid Unicode (a lone surrogate such as \\ud800 is not)",
            {"where": where},
        )
    return value
