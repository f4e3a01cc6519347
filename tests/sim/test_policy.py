"""Policies the simulator compares: presets, YAML files, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnpl.sim.policy import PRESETS, load_policy


def test_every_preset_loads_under_its_name() -> None:
    for name in PRESETS:
        assert load_policy(name).name == name
    assert load_policy("generous").credit.starter_limit == 150_000
    assert load_policy("no-rules").rules is None
    assert load_policy("baseline").collections.charge_off_dpd == 180
    assert load_policy("baseline").marketplace_feed and not load_policy("no-feed").marketplace_feed


def test_a_yaml_policy_overrides_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "quick-charge-off.yaml"
    path.write_text(
        "onboarding_limit: 80000\ncollections: {charge_off_dpd: 90}\nagents: 2\n", encoding="utf-8"
    )
    policy = load_policy(str(path))
    assert policy.name == "quick-charge-off"
    assert (policy.onboarding_limit, policy.collections.charge_off_dpd, policy.agents) == (80_000, 90, 2)
    assert policy.credit == load_policy("baseline").credit


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour: blue\n", "unknown policy setting 'colour'"),
        ("credit: {starter_limit: 1.5}\n", "whole number"),
        ("credit: {bands: 3}\n", "cannot be set here"),
        ("collections: {charge_off_dpd: 5}\n", "charge_off_dpd must be 30-720"),
        ("agents: -1\n", "agents is 0-200"),
        ("- a list\n", "a mapping"),
        ("a: [unclosed\n", "not valid YAML"),
        ("name: 5\n", "a policy name is"),
        ("name: ../escaped\n", "a policy name is"),
        ("agents: 2.5\n", "agents must be a whole number"),
        ("calls_per_agent: 2.5\n", "calls_per_agent must be a whole number"),
        ("onboarding_limit: true\n", "onboarding_limit must be a whole number"),
        ("field_visits: 1\n", "field_visits is true or false"),
        ("marketplace_feed: yes please\n", "marketplace_feed is true or false"),
    ],
)
def test_bad_policies_are_refused_with_a_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_policy(str(path))


def test_a_file_that_is_not_text_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ValueError, match=r"binary\.yaml: cannot read it as UTF-8"):
        load_policy(str(path))


def test_an_unknown_name_says_what_is_known() -> None:
    with pytest.raises(ValueError, match="baseline"):
        load_policy("reckless")
