"""The account-state policy as a table of cases: what one end of day does to one line."""

from __future__ import annotations

import pytest

from bnpl.domain.account_policy import AccountPolicy, next_state


@pytest.mark.parametrize(
    ("state", "frozen_by", "days_overdue", "past", "expected"),
    [
        ("active", None, 0, 0, None),
        ("active", None, 1, 0, "frozen"),
        ("active", None, 1, 1, "frozen"),  # the second episode
        ("active", None, 5, 2, "blocked"),  # the third
        ("frozen", "policy", 9, 2, None),  # still overdue: no escalation within one episode
        ("frozen", "policy", 0, 2, "active"),  # cured
        ("frozen", "staff", 0, 0, None),  # staff froze it: staff reopen it
        ("blocked", None, 0, 0, None),
        ("closed", None, 3, 5, None),
    ],
)
def test_next_state(
    state: str, frozen_by: str | None, days_overdue: int, past: int, expected: str | None
) -> None:
    change = next_state(state, frozen_by, days_overdue, past)
    assert (change.state if change else None) == expected
    if change:
        assert change.reason


def test_a_gentler_policy() -> None:
    gentle = AccountPolicy(freeze_after_days=5, block_after_episodes=5)
    assert next_state("active", None, 4, 0, gentle) is None
    assert next_state("active", None, 5, 3, gentle).state == "frozen"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="at least 1"):
        AccountPolicy(freeze_after_days=0)
