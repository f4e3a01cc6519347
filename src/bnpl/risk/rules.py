"""Declarative risk rules: data, versioned, validated on load, live or shadow.

A rule set is a YAML document::

    version: default-2026-11
    rules:
      - id: resale-category-cap
        when: category_resale && amount > 200000   # a CEL condition: true or false
        action: decline            # decline | review | reduce_amount | step_up
        reason: RESALE_CATEGORY_CAP
        mode: live                 # live rules change the outcome; shadow rules are only recorded
        description: Phones, gold and gift cards are easy to resell; cap them.
      - id: cap-new-accounts
        when: customer.age_days < 7
        action: reduce_amount
        reduce_to: 500_00          # a CEL expression for the largest amount to approve, in fen
        reason: NEW_ACCOUNT_CAP
        mode: shadow

Conditions are CEL, checked against the signals' names and types (``bnpl.risk.expressions``).
Loading returns every problem in the document at once, so an analyst fixes a file in one pass;
each expression is compiled once here and evaluated per checkout.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bnpl.domain.decision import RuleHit
from bnpl.risk.expressions import Bound, Environment, Expression, ExpressionError

ACTIONS = ("decline", "review", "reduce_amount", "step_up")
MODES = ("live", "shadow")
RESULTS = {"bool": "true or false", "int": "an amount in fen (an int)"}  # what 'when', 'reduce_to' give
MAX_RULES = 500
MAX_TEXT = 1_000_000
DEFAULT_RULES = Path(__file__).with_name("default_rules.yaml")


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without anchors and aliases: a few hundred bytes of nested aliases can expand
    into gigabytes (the "billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "aliases are not allowed in rule sets", mark)
        return super().compose_node(parent, index)


class RuleSetError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    when: Expression
    action: str
    reason: str
    mode: str
    description: str = ""
    reduce_to: Expression | None = None


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: str
    rules: tuple[Rule, ...]
    environment: Environment = field(repr=False, compare=False)  # the inputs' names and types

    names: frozenset[str] = frozenset()  # the inputs the rules read: only these are gathered
    # every rule's condition as one list expression: one CEL call a checkout (see ``evaluate``)
    conditions: Expression | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        used: set[str] = set()
        for rule in self.rules:
            used |= rule.when.names | (rule.reduce_to.names if rule.reduce_to else frozenset())
        object.__setattr__(self, "names", frozenset(used))
        object.__setattr__(self, "conditions", self.environment.all_of([r.when for r in self.rules]))


def load_default_rules() -> RuleSet:
    """The rule set shipped with the package (``risk/default_rules.yaml``)."""
    from bnpl.risk.signals import SIGNAL_TYPES

    return load_rules(DEFAULT_RULES.read_text(encoding="utf-8"), SIGNAL_TYPES)


def load_rules_file(path: str) -> RuleSet:
    from bnpl.risk.signals import SIGNAL_TYPES

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleSetError([f"cannot read {path}: {exc.strerror}"]) from None
    return load_rules(text, SIGNAL_TYPES)


def load_rules(text: str, allowed_names: Mapping[str, str] | Collection[str]) -> RuleSet:
    """Parse and check a YAML rule set against the inputs rules may use: a mapping of names to
    their CEL types (``bnpl.risk.signals.SIGNAL_TYPES``), or bare names, typed when evaluated."""
    if len(text) > MAX_TEXT:
        raise RuleSetError([f"a rule set may be at most {MAX_TEXT} characters"])
    try:
        doc = yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader without aliases
    except (yaml.YAMLError, ValueError) as exc:
        raise RuleSetError([f"not valid YAML: {str(exc).splitlines()[0]}"]) from None
    if not isinstance(doc, dict):
        raise RuleSetError(["a rule set is a mapping with 'version' and 'rules'"])
    problems: list[str] = []
    version = doc.get("version")
    if not isinstance(version, str) or not version.strip():
        problems.append("'version' must be a non-empty string")
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list):
        raise RuleSetError([*problems, "'rules' must be a list"])
    if len(raw_rules) > MAX_RULES:
        raise RuleSetError([*problems, f"at most {MAX_RULES} rules"])
    environment = Environment(allowed_names)
    unknown_keys = set(doc) - {"version", "rules"}
    if unknown_keys:
        problems.append(f"unknown top-level keys: {', '.join(sorted(map(str, unknown_keys)))}")
    rules: list[Rule] = []
    seen: set[str] = set()
    for n, raw in enumerate(raw_rules, start=1):
        where = f"rule {n}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        rule_id = raw.get("id")
        if not isinstance(rule_id, str) or not rule_id.strip():
            problems.append(f"{where}: 'id' must be a non-empty string")
            continue
        where = f"rule {rule_id!r}"
        if rule_id in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(rule_id)
        extra = set(raw) - {"id", "when", "action", "reason", "mode", "description", "reduce_to"}
        if extra:
            problems.append(f"{where}: unknown keys {', '.join(sorted(map(str, extra)))}")
        action, mode, reason = raw.get("action"), raw.get("mode", "live"), raw.get("reason")
        if action not in ACTIONS:
            problems.append(f"{where}: 'action' must be one of {', '.join(ACTIONS)}")
        if mode not in MODES:
            problems.append(f"{where}: 'mode' must be live or shadow")
        if not isinstance(reason, str) or not reason.isupper():
            problems.append(f"{where}: 'reason' must be an upper-case reason code")
        when = _compile(raw.get("when"), environment, where, "when", "bool", problems)
        reduce_to = None
        if action == "reduce_amount":
            reduce_to = _compile(raw.get("reduce_to"), environment, where, "reduce_to", "int", problems)
        elif "reduce_to" in raw:
            problems.append(f"{where}: 'reduce_to' only goes with action reduce_amount")
        description = raw.get("description", "")
        if not isinstance(description, str) or len(description) > 500:
            problems.append(f"{where}: 'description' must be text of at most 500 characters")
        if when is not None and not problems:
            rules.append(Rule(rule_id, when, str(action), str(reason), str(mode), description, reduce_to))
    if problems:
        raise RuleSetError(problems)
    return RuleSet(str(version), tuple(rules), environment)


def _compile(
    source: Any, environment: Environment, where: str, key: str, result: str, problems: list[str]
) -> Expression | None:
    if isinstance(source, bool):  # YAML reads a bare true/false as a boolean
        source = "true" if source else "false"
    if not isinstance(source, (str, int)):
        problems.append(f"{where}: '{key}' must be an expression")
        return None
    try:
        expression = environment.compile(str(source))
    except ExpressionError as exc:
        problems.append(f"{where}: '{key}': {exc}")
        return None
    if expression.result not in (result, "dyn"):  # dyn: checked when evaluated
        problems.append(f"{where}: '{key}' must come out as {RESULTS[result]}, not {expression.result}")
        return None
    return expression


def evaluate(rule_set: RuleSet, inputs: Mapping[str, Any]) -> tuple[list[RuleHit], list[str]]:
    """Every rule that fires (live and shadow), and the errors of rules that could not be
    evaluated on these inputs (such a rule does not fire; the error is recorded, not raised)."""
    hits: list[RuleHit] = []
    errors: list[str] = []
    bound = rule_set.environment.bind(inputs, rule_set.names)  # converted once for every rule
    fired = _all_conditions(rule_set, bound)
    for n, rule in enumerate(rule_set.rules):
        try:
            if not (fired[n] if fired is not None else rule.when.test(bound)):
                continue
            limit = None
            if rule.reduce_to is not None:
                value = rule.reduce_to.evaluate(bound)
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ExpressionError(f"reduce_to must come out as an amount in fen, got {value!r}")
                limit = max(0, value)
            hits.append(RuleHit(rule.id, rule.action, rule.reason, rule.mode, limit))
        except (ExpressionError, ArithmeticError, ValueError, TypeError) as exc:
            errors.append(f"{rule.id}: {exc}")
    return hits, errors


def _all_conditions(rule_set: RuleSet, bound: Bound) -> list[bool] | None:
    """Every rule's condition from one CEL call (a call per condition was most of the time rules
    took); None when one of them fails or is not true or false: then each rule is tested on its
    own, so only that rule records an error."""
    if rule_set.conditions is None:
        return None
    try:
        values = rule_set.conditions.evaluate(bound)
    except ExpressionError:
        return None
    return values if all(isinstance(v, bool) for v in values) else None
