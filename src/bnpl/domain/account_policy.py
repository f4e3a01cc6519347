"""The account-state policy: freeze on overdue, unfreeze on cure, block on repeated overdue.

One pure function that the end-of-day job applies to every line that is overdue or frozen. Staff
may also freeze, block or close a line by hand; the policy never undoes what staff did (a line
frozen by staff stays frozen until staff reopen it) and never reopens a blocked or closed line.
"""

from __future__ import annotations

from dataclasses import dataclass

POLICY = "policy"  # who froze a line: the policy, or staff


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    freeze_after_days: int = 1  # a bill this many days past due freezes the line
    block_after_episodes: int = 3  # the third overdue episode in twelve months blocks it

    def __post_init__(self) -> None:
        if self.freeze_after_days < 1 or self.block_after_episodes < 1:
            raise ValueError("freeze_after_days and block_after_episodes must be at least 1")


@dataclass(frozen=True, slots=True)
class StateChange:
    state: str  # active | frozen | blocked
    reason: str


def next_state(
    state: str,
    frozen_by: str | None,
    days_overdue: int,
    past_episodes_365d: int,
    policy: AccountPolicy = AccountPolicy(),
) -> StateChange | None:
    """What the policy does to one line today, or None to leave it. An episode is one stretch of
    being overdue (one freeze by the policy); ``past_episodes_365d`` counts the earlier ones."""
    if state not in ("active", "frozen"):
        return None  # blocked and closed lines are for people to reopen
    if state == "active" and days_overdue >= policy.freeze_after_days:
        episode = past_episodes_365d + 1
        if episode >= policy.block_after_episodes:
            return StateChange("blocked", f"overdue for the {_nth(episode)} time in twelve months")
        return StateChange("frozen", f"a bill is {days_overdue} days overdue")
    if state == "frozen" and frozen_by == POLICY and days_overdue == 0:
        return StateChange("active", "every overdue bill is paid")
    return None


def _nth(n: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(n, f"{n}th")
