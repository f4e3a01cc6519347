"""Rule conditions in CEL: what they mean, and what is refused, at load or when evaluated."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bnpl.risk.expressions import MAX_LENGTH, Environment, ExpressionError

TYPES = {
    "amount": "int",
    "channel": "string",
    "category": "string",
    "categories": "list(string)",
    "customer.is_new": "bool",
    "customer.age_days": "int",
    "device.accounts_7d": "int",
    "limit.available": "int",
    "account.utilisation": "double",
}
INPUTS: dict[str, Any] = {
    "amount": 4_500_00,
    "channel": "live_stream",
    "category": "phones",
    "categories": ["phones", "tea"],
    "customer.is_new": True,
    "customer.age_days": 3,
    "device.accounts_7d": 5,
    "limit.available": 3_000_00,
    "account.utilisation": Decimal("0.8"),  # a Decimal on the platform, a double in CEL
}
ENV = Environment(TYPES)


def run(source: str, inputs: dict[str, Any] = INPUTS) -> object:
    return ENV.compile(source).evaluate(ENV.bind(inputs, TYPES))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("amount > 300000 && channel == 'live_stream'", True),
        ('category in ["phones", "gold", "gift_cards"]', True),
        ("!(category in ['tea'])", True),
        ("!customer.is_new || device.accounts_7d >= 4", True),
        ("customer.is_new && customer.age_days < 7 && amount > limit.available", True),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("-amount + 10", -4_499_90),
        ("amount / 7", 64285),  # whole fen: integer division rounds toward zero
        ("-amount / 7", -64285),
        ("7 % 4", 3),
        ("'live' + '_stream' == channel", True),
        ("!!true", True),
        ("channel.contains('live') && channel.startsWith('live')", True),
        ("categories.exists(c, c in ['phones', 'gold'])", True),
        ("categories.all(c, c == 'tea')", False),
        ("size(categories) == 2", True),
        ("false || true && false", False),  # '&&' binds tighter than '||'
        ("customer.age_days < 7 ? 100 : 200", 100),
        ("account.utilisation > 0.8", False),  # Decimal("0.8") is the same double as 0.8
        ("account.utilisation >= 0.8", True),
        ("int(account.utilisation * 100.0)", 80),
    ],
)
def test_meaning(source: str, expected: object) -> None:
    assert run(source) == expected


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("amount.__class__", "cannot be the operand of a select"),
        ("customer.is__new", "unknown input 'customer.is__new'"),
        ("amount.real", "cannot be the operand of a select"),
        ("open('x')", "unknown function 'open' (at character 5)"),
        ("channel[0]", "'[]' cannot take (string, int)"),
        ("amount ** 2", "Syntax error"),
        ("lambda: 1", "Syntax error"),
        ("amount; 1", "Syntax error"),
        ("1 < amount < 5", "'<' cannot take (bool, int)"),
        ("secret > 1", "unknown input 'secret'"),
        ("", "non-empty"),
        ("(amount > 1", "Syntax error: missing ')'"),
        ("1" * 40, "invalid int literal"),
        ("[" * 250 + "1" + "]" * 250, "recursion limit"),
        ("\u09ea00 > 1", "token recognition error"),
        ("x" * (MAX_LENGTH + 1), f"at most {MAX_LENGTH} characters"),
        ("(" * 45 + "1" + ")" * 45, "recursion limit"),
        (" + ".join(["1"] * 400), "recursion depth"),
        # type errors a hand-written language found only when a checkout reached them
        ("amount + channel > 1", "'+' cannot take (int, string)"),
        ("amount && true", "'&&' cannot take (int, bool)"),
        ("channel > 5", "'>' cannot take (string, int)"),
        ("1 in 5", "'in' cannot take (int, int)"),
        ("true == 1", "'==' cannot take (bool, int)"),
        ("'4' == 4", "'==' cannot take (string, int)"),
        ("amount % 0.5 > 1", "'%' cannot take (int, double)"),
        ("account.utilisation > 1", "CEL never mixes int and double"),
        ("customer.age_days > 1 ||\n  amount + channel", "(at line 2, character 10)"),
        ("customer.// a comment\nage_days < 7", "in one piece"),
        # the language before CEL: refused with what to write instead
        ("amount > 1 and not customer.is_new", "CEL writes &&, || and ! for and, or and not"),
        ("amount > 3000_00", "CEL numbers have no '_' (write 300000 for 3000_00)"),
    ],
)
def test_hostile_or_broken_input_is_refused_at_compile_time(source: str, words: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(words)):
        ENV.compile(source)


@pytest.mark.parametrize(
    ("source", "inputs", "words"),
    [
        ("amount / 0 > 1", INPUTS, "divide by zero"),
        ("amount % 0 > 1", INPUTS, "modulus by zero"),
        ("amount * amount * amount * amount > 1", INPUTS, "integer overflow"),
        ("amount > 1", {}, "no input named 'amount'"),
        ("amount > 1", {"amount": "4500"}, "Unexpected value type for 'amount'"),
        ("account.utilisation > 0.5", {"account.utilisation": None}, "account.utilisation"),
    ],
)
def test_what_only_the_values_decide_is_an_error_when_evaluated(
    source: str, inputs: dict[str, Any], words: str
) -> None:
    expression = ENV.compile(source)
    with pytest.raises(ExpressionError, match=re.escape(words)):
        expression.evaluate(ENV.bind(inputs, TYPES))


def test_compiled_expression_names_its_inputs_and_tests_conditions() -> None:
    expr = ENV.compile("amount > limit.available && customer . is_new")  # CEL allows blanks at dots
    assert expr.names == {"amount", "limit.available", "customer.is_new"} and expr.result == "bool"
    bound = ENV.bind(INPUTS, expr.names)
    assert expr.test(bound) is True
    assert ENV.compile("amount + 1").result == "int"
    with pytest.raises(ExpressionError, match="expected true or false"):
        ENV.compile("amount + 1").test(bound)


def test_untyped_inputs_are_checked_when_evaluated() -> None:
    env = Environment({"amount", "channel"})
    expr = env.compile("amount > 5")
    assert expr.test(env.bind({"amount": 10}, expr.names)) is True
    with pytest.raises(ExpressionError, match="No matching overloads"):
        expr.test(env.bind({"amount": "10"}, expr.names))


def test_an_unknown_input_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown input types"):
        Environment({"amount": "money"})


INT64 = 2**63


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


def _overflows(source: str) -> bool:
    """Whether any step of the evaluation leaves 64 bits (Python's eval on the test's own text)."""
    return any(not -INT64 <= v < INT64 for v in _steps(source))


def _steps(source: str) -> list[int]:
    import ast

    values: list[int] = []

    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.Constant):
            return int(node.value)
        assert isinstance(node, ast.BinOp)
        a, b = walk(node.left), walk(node.right)
        v = a + b if isinstance(node.op, ast.Add) else a - b if isinstance(node.op, ast.Sub) else a * b
        values.append(v)
        return v

    walk(ast.parse(source, mode="eval").body)
    return values


@given(arithmetic())
def test_integer_arithmetic_is_exact_or_refused_never_wrapped(case: tuple[str, int]) -> None:
    source, value = case
    env = Environment({})
    expression = env.compile(source)
    if _overflows(source):
        with pytest.raises(ExpressionError, match="overflow"):
            expression.evaluate(env.bind({}, ()))
    else:
        assert expression.evaluate(env.bind({}, ())) == value
