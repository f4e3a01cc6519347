"""Rule sets as data: loading reports every problem; live and shadow hits are told apart."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bnpl.risk.rules import RuleSetError, evaluate, load_rules

# Bare names (no types) are CEL's dyn: type-checked when evaluated; SIGNAL_TYPES types each one.
NAMES = {"amount", "category_resale", "customer.age_days", "device.accounts_7d"}
TYPED = {"amount": "int", "category_resale": "bool", "customer.age_days": "int", "channel": "string"}

GOOD = """
version: test-1
rules:
  - id: resale-cap
    when: category_resale && amount > 200000
    action: decline
    reason: RESALE_CATEGORY_CAP
  - id: new-account-cap
    when: customer.age_days < 7
    action: reduce_amount
    reduce_to: 500_00
    reason: NEW_ACCOUNT_CAP
    mode: shadow
  - id: shared-device
    when: device.accounts_7d >= 4
    action: review
    reason: SHARED_DEVICE
"""


def test_a_good_rule_set_loads_and_fires() -> None:
    rules = load_rules(GOOD, NAMES)
    assert rules.version == "test-1" and [r.id for r in rules.rules] == [
        "resale-cap",
        "new-account-cap",
        "shared-device",
    ]
    inputs = {"amount": 3000_00, "category_resale": True, "customer.age_days": 2, "device.accounts_7d": 1}
    hits, errors = evaluate(rules, inputs)
    assert errors == []
    assert [(h.rule_id, h.mode) for h in hits] == [("resale-cap", "live"), ("new-account-cap", "shadow")]
    assert hits[1].reduce_to == 500_00


def test_every_problem_is_reported_at_once() -> None:
    bad = """
version: ""
rules:
  - id: a
    when: amount >
    action: explode
    reason: lower
  - id: a
    when: secret > 1
    action: decline
    reason: X
    mode: sometimes
  - when: true
    action: decline
    reason: Y
"""
    with pytest.raises(RuleSetError) as caught:
        load_rules(bad, NAMES)
    problems = caught.value.problems
    assert any("'version'" in p for p in problems)
    assert any("'action' must be one of" in p for p in problems)
    assert any("upper-case reason" in p for p in problems)
    assert any("duplicate id" in p for p in problems)
    assert any("unknown input 'secret'" in p for p in problems)
    assert any("live or shadow" in p for p in problems)
    assert any("rule 3: 'id'" in p for p in problems)
    assert len(problems) >= 7


@pytest.mark.parametrize(
    "text", ["[1, 2", "just text", "version: v\nrules: 5", "!!python/object:os.system x"]
)
def test_broken_documents_are_refused_clearly(text: str) -> None:
    with pytest.raises(RuleSetError):
        load_rules(text, NAMES)


def test_a_rule_that_cannot_be_evaluated_is_recorded_not_raised() -> None:
    rules = load_rules(
        "version: v\nrules:\n  - {id: r, when: amount / customer.age_days > 1, action: review, reason: R}",
        NAMES,
    )
    hits, errors = evaluate(rules, {"amount": 1, "customer.age_days": 0})
    assert hits == [] and "by zero" in errors[0]


def test_reduce_to_must_be_an_amount() -> None:
    # an untyped input is checked when evaluated: a text where an amount should be fires nothing
    rules = load_rules(
        "version: v\nrules:\n  - {id: r, when: true, action: reduce_amount, reduce_to: amount, reason: R}",
        NAMES,
    )
    hits, errors = evaluate(rules, {"amount": "10"})
    assert hits == [] and "amount in fen" in errors[0]


@pytest.mark.parametrize(
    ("when", "reduce_to", "words"),
    [
        ("true", "amount > 5", "'reduce_to' must come out as an amount in fen (an int), not bool"),
        ("true", "amount * 0.5", "'*' cannot take (int, double) (at character 8)"),
        ("amount + 1", "1", "'when' must come out as true or false, not int"),
        ("channel > 5", "1", "'>' cannot take (string, int)"),
        ("amount > 5 || channel + 1 == 2", "1", "'+' cannot take (string, int)"),  # a branch never taken
        ("customer.age_days < 7 && customer.secret", "1", "unknown input 'customer.secret'"),
        ("amount ** 2 > 1", "1", "Syntax error: extraneous input '*' (at character 9)"),
    ],
)
def test_a_rule_of_the_wrong_type_is_refused_at_load_with_its_name(
    when: str, reduce_to: str, words: str
) -> None:
    text = (
        "version: v\nrules:\n  - id: typo\n    action: reduce_amount\n    reason: R\n"
        f"    when: '{when}'\n    reduce_to: '{reduce_to}'\n"
    )
    with pytest.raises(RuleSetError) as caught:
        load_rules(text, TYPED)
    assert caught.value.problems == [caught.value.problems[0]] and words in caught.value.problems[0]
    assert caught.value.problems[0].startswith("rule 'typo': ")


def test_the_inputs_a_rule_set_reads_are_the_ones_gathered() -> None:
    rules = load_rules(GOOD, NAMES)
    assert rules.names == NAMES
    assert load_rules("version: v\nrules: []", NAMES).names == frozenset()


def test_the_default_resale_cap_gives_way_to_a_good_grade_only() -> None:
    from bnpl.risk.rules import load_default_rules

    rules = load_default_rules()
    assert {"credit.trusted", "credit.grade"} & rules.names == {"credit.trusted"}
    base = {name: 0 for name in rules.names} | {
        "category_resale": True,
        "amount": 400_000,
        "device.present": False,
        "device.known": False,
        "address.present": False,
        "address.known": False,
        "account.utilisation": 0.0,
        "account.hours_since_limit_raise": 1e6,
        "merchant.cashout_score": 0.0,
        "marketplace.contact_change_30d": False,
    }

    def fired(**signals: object) -> list[str]:
        hits, errors = evaluate(rules, base | signals)
        assert errors == []
        return [h.reason for h in hits if h.mode == "live"]

    assert fired(**{"credit.trusted": False}) == ["RESALE_HIGH_VALUE"]
    assert fired(**{"credit.trusted": True}) == []
    assert fired(**{"credit.trusted": False, "amount": 300_000}) == []  # at the cap, not above
    # a new phone or address lately, then resale goods: an analyst looks, whatever the grade
    assert fired(**{"credit.trusted": True, "marketplace.contact_change_30d": True}) == ["CONTACT_CHANGED"]
    assert fired(**{"marketplace.contact_change_30d": True, "category_resale": False}) == []


MIXED = """
version: mixed-1
rules:
  - {id: big, when: "amount > 1000 // a trailing comment", action: review, reason: BIG}
  - {id: ratio, when: amount / customer.age_days > 10, action: decline, reason: RATIO}
  - {id: young, when: customer.age_days < 3, action: reduce_amount, reduce_to: 100, reason: YOUNG}
  - {id: resale, when: category_resale, action: review, reason: RESALE, mode: shadow}
"""


@given(
    amount=st.integers(0, 5000),
    age=st.integers(0, 10),
    resale=st.one_of(st.booleans(), st.just("not a bool")),
)
def test_all_conditions_at_once_fire_as_each_one_alone(amount: int, age: int, resale: Any) -> None:
    """Every rule's condition in one CEL call gives the hits and errors of testing each rule on
    its own, also when one of them divides by zero or reads a value of the wrong kind."""
    rules = load_rules(MIXED, NAMES)
    assert rules.conditions is not None
    one_by_one = dataclasses.replace(rules)
    object.__setattr__(one_by_one, "conditions", None)
    inputs = {"amount": amount, "customer.age_days": age, "category_resale": resale}
    assert evaluate(rules, inputs) == evaluate(one_by_one, inputs)
    hits, errors = evaluate(rules, inputs)
    if age == 0:  # the division fails: that rule is an error, the others still fire
        assert any(e.startswith("ratio:") for e in errors)
        assert ("big" in [h.rule_id for h in hits]) == (amount > 1000)
