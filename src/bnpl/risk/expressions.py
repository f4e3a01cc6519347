"""A small, safe expression language for rule conditions. Never Python ``eval``.

    amount > 3000_00 and channel == "live_stream" and not customer.is_new
    category in ["phones", "gold", "gift_cards"] or device.accounts_7d >= 4
    (amount - limit.available) * 2 > order.basket_avg_90d

Literals: integers (``_`` separators allowed), decimals (``Decimal``, never float), strings in
single or double quotes, ``true``, ``false``, ``null`` and lists ``[...]``. Names are dotted paths
looked up as whole keys in the inputs (``customer.is_new`` is the key "customer.is_new"): there is no
attribute access, no calls, no indexing, no imports. Operators, loosest first: ``or``, ``and``,
``not``, comparisons (``== != < <= > >= in``, ``not in``), ``+ -``, ``* / %``, unary ``-``.

Compiling checks every name against the names a rule may use and refuses oversized or deeply
nested input, so a rule file is validated on load; evaluation is then a walk over a small tree.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_LENGTH = 2_000
MAX_NODES = 300
MAX_DEPTH = 40
MAX_DIGITS = 20  # well inside Decimal's 28-digit precision, so arithmetic on literals is exact


class ExpressionError(ValueError):
    """A rule condition that cannot be compiled or evaluated, with the position at fault."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} (at character {position + 1})")
        self.position = position


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[0-9][0-9_]*(?:\.[0-9][0-9_]*)?)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<name>[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*)
  | (?P<op>==|!=|<=|>=|[<>+\-*/%()\[\],])
    """,
    re.VERBOSE | re.ASCII,
)
KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # number | string | name | op | keyword | end
    text: str
    position: int


def tokenize(source: str) -> list[Token]:
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"an expression may be at most {MAX_LENGTH} characters")
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise ExpressionError(f"unexpected character {source[pos]!r}", pos)
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "name" and text in KEYWORDS:
            kind = "keyword"
        if kind == "name" and any(part.startswith("_") or "__" in part for part in text.split(".")):
            raise ExpressionError(f"name {text!r} is not allowed", pos)
        if kind != "space":
            tokens.append(Token(kind, text, pos))
        pos = match.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


# --- the tree -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class Name:
    path: str
    position: int


@dataclass(frozen=True, slots=True)
class ListOf:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Node
    position: int


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node
    position: int


Node = Literal | Name | ListOf | Unary | Binary

COMPARISONS = {"==", "!=", "<", "<=", ">", ">=", "in", "not in"}


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.nodes = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self, text: str | None = None) -> Token:
        tok = self.tok
        if text is not None and tok.text != text:
            found = tok.text or "the end"
            raise ExpressionError(f"expected {text!r} but found {found!r}", tok.position)
        self.i += 1
        return tok

    def node(self, n: Node) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionError(f"an expression may have at most {MAX_NODES} parts")
        return n

    def parse(self) -> Node:
        tree = self.or_()
        if self.tok.kind != "end":
            raise ExpressionError(f"unexpected {self.tok.text!r}", self.tok.position)
        return tree

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"an expression may nest at most {MAX_DEPTH} deep", self.tok.position)

    def or_(self) -> Node:
        left = self.and_()
        while self.tok.text == "or":
            pos = self.take().position
            left = self.node(Binary("or", left, self.and_(), pos))
        return left

    def and_(self) -> Node:
        left = self.not_()
        while self.tok.text == "and":
            pos = self.take().position
            left = self.node(Binary("and", left, self.not_(), pos))
        return left

    def not_(self) -> Node:
        if self.tok.text == "not":
            pos = self.take().position
            self.nested()
            operand = self.not_()
            self.depth -= 1
            return self.node(Unary("not", operand, pos))
        return self.comparison()

    def comparison(self) -> Node:
        left = self.sum_()
        tok = self.tok
        if tok.text in COMPARISONS or (tok.text == "not" and self.tokens[self.i + 1].text == "in"):
            op = self.take().text
            if op == "not":
                self.take("in")
                op = "not in"
            left = self.node(Binary(op, left, self.sum_(), tok.position))
            if self.tok.text in COMPARISONS:
                raise ExpressionError("chain comparisons with 'and'", self.tok.position)
        return left

    def sum_(self) -> Node:
        left = self.product()
        while self.tok.text in ("+", "-"):
            tok = self.take()
            left = self.node(Binary(tok.text, left, self.product(), tok.position))
        return left

    def product(self) -> Node:
        left = self.unary()
        while self.tok.text in ("*", "/", "%"):
            tok = self.take()
            left = self.node(Binary(tok.text, left, self.unary(), tok.position))
        return left

    def unary(self) -> Node:
        if self.tok.text == "-":
            pos = self.take().position
            self.nested()
            operand = self.unary()
            self.depth -= 1
            return self.node(Unary("-", operand, pos))
        return self.atom()

    def atom(self) -> Node:
        tok = self.take()
        if tok.kind == "number":
            digits = tok.text.replace("_", "")
            if len(digits) > MAX_DIGITS:
                raise ExpressionError(f"a number may have at most {MAX_DIGITS} digits", tok.position)
            try:
                value: Any = Decimal(digits) if "." in digits else int(digits)
            except (ValueError, InvalidOperation):
                raise ExpressionError(f"not a number: {tok.text!r}", tok.position) from None
            return self.node(Literal(value))
        if tok.kind == "string":
            return self.node(Literal(_unquote(tok.text)))
        if tok.kind == "keyword" and tok.text in ("true", "false", "null"):
            return self.node(Literal({"true": True, "false": False, "null": None}[tok.text]))
        if tok.kind == "name":
            if self.tok.text in ("(", "["):
                raise ExpressionError("calls and indexing are not part of the language", self.tok.position)
            return self.node(Name(tok.text, tok.position))
        if tok.text == "(":
            self.nested()
            inner = self.or_()
            self.take(")")
            self.depth -= 1
            return inner
        if tok.text == "[":
            self.nested()
            items: list[Node] = []
            while self.tok.text != "]":
                items.append(self.sum_())
                if self.tok.text != "]":
                    self.take(",")
            self.take("]")
            self.depth -= 1
            return self.node(ListOf(tuple(items)))
        raise ExpressionError(f"unexpected {tok.text or 'end of expression'!r}", tok.position)


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


# --- evaluation -------------------------------------------------------------------------------


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, Decimal)) and not isinstance(v, bool)


def _arith(op: str, a: Any, b: Any, pos: int) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if not (_is_number(a) and _is_number(b)):
        raise ExpressionError(f"'{op}' needs two numbers, got {type(a).__name__} and {type(b).__name__}", pos)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        raise ExpressionError(f"'{op}' by zero", pos)
    if op == "/":
        return Decimal(a) / Decimal(b)
    if not (isinstance(a, int) and isinstance(b, int)):
        raise ExpressionError("'%' needs two whole numbers", pos)
    return a % b


def _equal(a: Any, b: Any) -> bool:
    """Equality without Python's surprises: true is not 1, and a number is not a string."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def _compare(op: str, a: Any, b: Any, pos: int) -> bool:
    if op in ("in", "not in"):
        if isinstance(b, str):
            if not isinstance(a, str):
                raise ExpressionError(f"'{op}' a string needs a string on its left", pos)
            found = a in b
        elif isinstance(b, (list, tuple)):
            found = any(_equal(a, item) for item in b)
        else:
            raise ExpressionError(f"'{op}' needs a list or a string on its right", pos)
        return found if op == "in" else not found
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if a is None or b is None:
        return False  # an unknown value is never above or below anything
    if not ((_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))):
        raise ExpressionError(f"cannot order {type(a).__name__} and {type(b).__name__}", pos)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _truthy(v: Any, pos: int) -> bool:
    if not isinstance(v, bool):
        raise ExpressionError(f"expected true or false, got {type(v).__name__}", pos)
    return v


def _eval(node: Node, inputs: Mapping[str, Any]) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Name):
        if node.path not in inputs:
            raise ExpressionError(f"no input named {node.path!r}", node.position)
        return inputs[node.path]
    if isinstance(node, ListOf):
        return [_eval(item, inputs) for item in node.items]
    if isinstance(node, Unary):
        value = _eval(node.operand, inputs)
        if node.op == "not":
            return not _truthy(value, node.position)
        if not _is_number(value):
            raise ExpressionError("'-' needs a number", node.position)
        return -value
    if node.op == "and":
        return _truthy(_eval(node.left, inputs), node.position) and _truthy(
            _eval(node.right, inputs), node.position
        )
    if node.op == "or":
        return _truthy(_eval(node.left, inputs), node.position) or _truthy(
            _eval(node.right, inputs), node.position
        )
    left, right = _eval(node.left, inputs), _eval(node.right, inputs)
    if node.op in COMPARISONS:
        return _compare(node.op, left, right, node.position)
    return _arith(node.op, left, right, node.position)


def _names(node: Node) -> set[str]:
    if isinstance(node, Name):
        return {node.path}
    if isinstance(node, ListOf):
        return set().union(*(_names(i) for i in node.items)) if node.items else set()
    if isinstance(node, Unary):
        return _names(node.operand)
    if isinstance(node, Binary):
        return _names(node.left) | _names(node.right)
    return set()


@dataclass(frozen=True, slots=True)
class Expression:
    source: str
    tree: Node
    names: frozenset[str]

    def evaluate(self, inputs: Mapping[str, Any]) -> Any:
        try:
            return _eval(self.tree, inputs)
        except ExpressionError:
            raise
        except (ArithmeticError, TypeError, ValueError, RecursionError) as exc:  # e.g. a NaN input
            raise ExpressionError(f"cannot evaluate: {type(exc).__name__}") from None

    def test(self, inputs: Mapping[str, Any]) -> bool:
        """Evaluate a condition: it must come out true or false."""
        return _truthy(self.evaluate(inputs), 0)


def compile_expression(source: str, allowed_names: Collection[str] | None = None) -> Expression:
    """Parse ``source`` once; with ``allowed_names``, refuse any name outside them."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("an expression must be non-empty text")
    tree = _Parser(tokenize(source)).parse()
    names = frozenset(_names(tree))
    if allowed_names is not None:
        unknown = sorted(names - set(allowed_names))
        if unknown:
            raise ExpressionError(
                f"unknown input {unknown[0]!r}; rules may use {', '.join(sorted(allowed_names))}"
            )
    return Expression(source, tree, names)
