"""The rule expression language: what it means, and what it refuses."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bnpl.risk.expressions import MAX_DEPTH, MAX_LENGTH, ExpressionError, compile_expression

INPUTS = {
    "amount": 4_500_00,
    "channel": "live_stream",
    "category": "phones",
    "customer.is_new": True,
    "customer.age_days": 3,
    "device.accounts_7d": 5,
    "limit.available": 3_000_00,
    "note": None,
}


def run(source: str) -> object:
    return compile_expression(source, INPUTS).evaluate(INPUTS)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("amount > 3000_00 and channel == 'live_stream'", True),
        ('category in ["phones", "gold", "gift_cards"]', True),
        ("category not in ['tea']", True),
        ("not customer.is_new or device.accounts_7d >= 4", True),
        ("customer.is_new and customer.age_days < 7 and amount > limit.available", True),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("-amount + 10", -4_499_90),
        ("amount / 3", Decimal(450000) / Decimal(3)),
        ("7 % 4", 3),
        ("0.1 + 0.2 == 0.3", True),  # decimals, not floats
        ("note == null", True),
        ("note > 5", False),  # a missing value is never above anything
        ("'live' + '_stream' == channel", True),
        ("not not true", True),
        ("true == 1", False),
        ("true in [1]", False),
        ("'4' == 4", False),
        ("'live' in channel", True),
        ("false or true and false", False),  # 'and' binds tighter than 'or'
    ],
)
def test_meaning(source: str, expected: object) -> None:
    assert run(source) == expected


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("__import__('os')", "unexpected character '_'"),
        ("amount.__class__", "unexpected character '.'"),
        ("customer.is__new", "not allowed"),
        ("amount.real", "unknown input"),
        ("open('x')", "calls and indexing"),
        ("channel[0]", "calls and indexing"),
        ("amount ** 2", "unexpected"),
        ("lambda: 1", "unexpected"),
        ("amount; 1", "unexpected character"),
        ("1 < amount < 5", "chain comparisons"),
        ("secret > 1", "unknown input 'secret'"),
        ("", "non-empty"),
        ("(amount > 1", "expected ')'"),
        ("1" * 40, "at most 20 digits"),
        ("[" * 250 + "1" + "]" * 250, "nest"),
        ("\u09ea00 > 1", "unexpected character"),
        ("x" * (MAX_LENGTH + 1), f"at most {MAX_LENGTH} characters"),
        ("(" * (MAX_DEPTH + 5) + "1" + ")" * (MAX_DEPTH + 5), "nest"),
        ("-" * 200 + "1", "nest"),
        (" + ".join(["1"] * 400), "at most"),
    ],
)
def test_hostile_or_broken_input_is_refused_at_compile_time(source: str, words: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(words)):
        compile_expression(source, INPUTS)


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("amount + channel > 1", "needs two numbers"),
        ("amount / 0 > 1", "by zero"),
        ("amount and true", "expected true or false"),
        ("channel > 5", "cannot order"),
        ("1 in 5", "needs a list"),
        ("1 in 'abc'", "needs a string on its left"),
        ("amount % 0.5 > 1", "two whole numbers"),
    ],
)
def test_type_errors_are_clear_at_evaluation(source: str, words: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(words)):
        run(source)


def test_compiled_expression_names_its_inputs_and_tests_conditions() -> None:
    expr = compile_expression("amount > limit.available and customer.is_new", INPUTS)
    assert expr.names == {"amount", "limit.available", "customer.is_new"}
    assert expr.test(INPUTS) is True
    with pytest.raises(ExpressionError, match="expected true or false"):
        compile_expression("amount + 1", INPUTS).test(INPUTS)


@st.composite
def arithmetic(draw: st.DrawFn, depth: int = 0) -> tuple[str, int]:
    """An integer expression as text, with its value computed by the test, not by the language."""
    if depth > 4 or draw(st.booleans()):
        n = draw(st.integers(0, 10**6))
        return str(n), n
    op = draw(st.sampled_from(["+", "-", "*"]))
    (ls, lv), (rs, rv) = draw(arithmetic(depth + 1)), draw(arithmetic(depth + 1))
    value = lv + rv if op == "+" else lv - rv if op == "-" else lv * rv
    return f"({ls} {op} {rs})", value


@given(arithmetic())
def test_integer_arithmetic_is_exact(case: tuple[str, int]) -> None:
    source, value = case
    assert compile_expression(source, {}).evaluate({}) == value
