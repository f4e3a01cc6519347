"""Rule conditions in the Common Expression Language (CEL), type-checked once when a rule set
loads and evaluated per checkout. Never Python ``eval``.

The full account is in docs/risk.md ("Rule conditions in CEL")."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from cel_expr_python import cel

MAX_LENGTH = 2_000

# The CEL type of each kind of input; "dyn" is checked only when evaluated (for callers that name
# their inputs without typing them).
TYPES: dict[str, Any] = {
    "bool": cel.Type.BOOL,
    "int": cel.Type.INT,
    "double": cel.Type.DOUBLE,
    "string": cel.Type.STRING,
    "list(string)": cel.Type.List(cel.Type.STRING),
    "dyn": cel.Type.DYN,
}
_ERROR = cel.Type.ERROR
# A name as written in an expression, possibly dotted (CEL allows blanks around the dots).
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*")
_AT = re.compile(r"ERROR: <input>:(-?\d+):(-?\d+): (.*)$", re.MULTILINE)
_STATUS = re.compile(r"^[A-Z_]+: |\s*\[[A-Z_]+\]$")
_OPERATORS = {
    "_&&_": "&&",
    "_||_": "||",
    "!_": "!",
    "-_": "-",
    "_?_:_": "? :",
    "@in": "in",
    "_[_]": "[]",
    **{f"_{op}_": op for op in ("==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%")},
}


class ExpressionError(ValueError):
    """An expression that cannot be compiled or evaluated, in words an analyst can act on."""


@dataclass(frozen=True, slots=True)
class Bound:
    """One checkout's inputs as CEL values, converted once and shared by every rule."""

    activation: Any


@dataclass(frozen=True, slots=True)
class Expression:
    source: str
    names: frozenset[str]  # the inputs it reads (a superset at worst, never fewer)
    result: str  # the CEL type of its value: "bool", "int", "double", "list<string>", "dyn"...
    program: Any = field(repr=False, compare=False)

    def evaluate(self, bound: Bound) -> Any:
        try:
            value = self.program.eval(bound.activation)
        except RuntimeError as exc:  # CEL reports most failures as an error value, a few by raising
            raise ExpressionError(_runtime_message(str(exc))) from None
        if value.type() == _ERROR:
            raise ExpressionError(_runtime_message(str(value.value())))
        return value.plain_value()

    def test(self, bound: Bound) -> bool:
        """Evaluate a condition: it must come out true or false."""
        value = self.evaluate(bound)
        if not isinstance(value, bool):
            raise ExpressionError(f"expected true or false, got {type(value).__name__}")
        return value


class Environment:
    """The inputs expressions may read, with their CEL types: compiles and binds against them."""

    def __init__(self, declared: Mapping[str, str] | Collection[str]) -> None:
        if isinstance(declared, Mapping):
            self.declared: dict[str, str] = {str(k): str(v) for k, v in declared.items()}
        else:
            self.declared = dict.fromkeys(map(str, declared), "dyn")
        unknown = sorted({t for t in self.declared.values() if t not in TYPES})
        if unknown:
            raise ValueError(f"unknown input types {unknown}; use {', '.join(TYPES)}")
        self._doubles = frozenset(n for n, t in self.declared.items() if t == "double")
        self._env = self._new_env(self.declared)

    @staticmethod
    def _new_env(declared: Mapping[str, str]) -> Any:
        return cel.NewEnv(variables={name: TYPES[kind] for name, kind in declared.items()})

    def compile(self, source: str) -> Expression:
        """Parse and type-check ``source`` once. The caller checks ``result``, the type of its
        value (``dyn`` when it is known only once evaluated)."""
        if not isinstance(source, str) or not source.strip():
            raise ExpressionError("an expression must be non-empty text")
        if len(source) > MAX_LENGTH:
            raise ExpressionError(f"an expression may be at most {MAX_LENGTH} characters")
        try:
            program = self._env.compile(source)
        except RuntimeError as exc:
            raise ExpressionError(self._compile_message(source, str(exc))) from None
        kind = str(program.return_type().name()).lower()
        return Expression(source, self._names(source), kind, program)

    def all_of(self, expressions: Collection[Expression]) -> Expression | None:
        """``expressions``, each compiled on its own already, as one list expression (one call
        into CEL for all of them): None if there are none or they do not compile together."""
        if not expressions:
            return None
        # each on its own line: a trailing // comment ends with its line, not the list
        source = "[" + ", ".join(f"({e.source}\n)" for e in expressions) + "]"
        try:
            program = self._env.compile(source)
        except RuntimeError:
            return None
        return Expression(source, frozenset().union(*(e.names for e in expressions)), "list", program)

    def _names(self, source: str) -> frozenset[str]:
        """The declared inputs ``source`` reads. CEL's Python binding does not list them, so they
        are read off the text (a name inside a string counts too: harmless, one more signal
        gathered) and then proved: the expression must compile with only those declared."""
        found: set[str] = set()
        for match in _PATH.finditer(source):
            parts = re.sub(r"\s+", "", match.group()).split(".")
            prefixes = (".".join(parts[:i]) for i in range(1, len(parts) + 1))
            found.update(p for p in prefixes if p in self.declared)
        try:
            self._new_env({n: self.declared[n] for n in found}).compile(source)
        except RuntimeError:
            raise ExpressionError("write each input's name in one piece, with no comment inside") from None
        return frozenset(found)

    def bind(self, inputs: Mapping[str, Any], names: Collection[str]) -> Bound:
        """The ``names`` among ``inputs`` as CEL values: doubles from ``Decimal`` (or int), the
        rest as they are. A name missing from ``inputs`` fails only the expressions reading it."""
        data = {n: inputs[n] for n in names if n in inputs}
        for name in self._doubles.intersection(data):
            # a value that is no number is left as it is: CEL refuses it where it is read
            with contextlib.suppress(TypeError, ValueError, ArithmeticError):
                data[name] = float(data[name])
        return Bound(self._env.Activation(data))

    def _compile_message(self, source: str, text: str) -> str:
        """CEL's report (one ``ERROR: <input>:line:column: message`` and a caret picture per
        problem) as one line: the message, in the words of a rule file, and where."""
        problems: list[str] = []
        lines = source.splitlines() or [""]
        for line, column, message in _AT.findall(text):
            message = _STATUS.sub("", message)
            row, col = int(line), int(column)
            reference = re.fullmatch(r"undeclared reference to '([^']*)'.*", message)
            if reference:
                called = 0 < row <= len(lines) and lines[row - 1][col - 1 : col] == "("
                name = reference.group(1)
                message = (
                    f"unknown function {name!r}"
                    if called
                    else f"unknown input {name!r}; rules may use {', '.join(sorted(self.declared))}"
                )
            overload = re.fullmatch(r"found no matching overload for '([^']*)' applied to '(.*)'", message)
            if overload:
                op, types = _OPERATORS.get(overload.group(1), overload.group(1)), overload.group(2)
                message = f"{op!r} cannot take {types}"
            message = re.sub(r" expecting \{.*\}$", "", message)  # ANTLR's list of every token
            at = f"character {col}" if row == 1 else f"line {row}, character {col}"
            message = f"{message} (at {at})" if col > 0 else message
            if overload and "int" in overload.group(2) and "double" in overload.group(2):
                message += ": CEL never mixes int and double; write 24.0 for a double, or convert: double(x)"
            if message not in problems:
                problems.append(message)
        if any(p.startswith("Syntax error") for p in problems):  # rules from before CEL, most likely
            if re.search(r"\b(and|or|not)\b", source):
                problems.append("CEL writes &&, || and ! for and, or and not")
            if re.search(r"\d_\d", source):
                problems.append("CEL numbers have no '_' (write 300000 for 3000_00)")
        return "; ".join(problems) or _STATUS.sub("", text.strip())


def _runtime_message(text: str) -> str:
    text = _STATUS.sub("", text.strip())
    missing = re.fullmatch(r'No value with name "([^"]*)" found in Activation', text)
    return f"no input named {missing.group(1)!r}" if missing else text
