"""Field visits (上门走访): the last and most intrusive step of collections, so every rule is
checked before one is requested, approved and recorded.

A visit needs a case at or past a configured bucket with at least a minimum balance overdue, fewer
than the month's maximum visits on the case, and a registered address; a supervisor's approval;
two named field agents; a slot inside allowed hours (the contact policy decides that) announced to
the customer days before; and a recorded outcome with the conduct checklist the law asks for.

Sources: PRC Criminal Law art. 293-1 (collection by violence, threats, intrusion into a residence,
harassment) and art. 245 (unlawful intrusion into a residence); PRC Civil Code art. 1033 (no
entering, peeping into or photographing another's private space); Regulation F 12 CFR 1006.6(b)
(inconvenient times and places). Each function returns every problem it finds, not just the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from bnpl.domain.delinquency import CollectionsPolicy, bucket_rank

OUTCOMES = ("met", "not_home", "promise", "dispute", "refused")
# Answered yes for every visit; a "no" is recorded as it happened and reported as a breach.
CONDUCT = {
    "identified_themselves": "both agents showed their identification and said who they work for",
    "consent_to_enter": "no one entered the home without the resident's consent (or stayed outside)",
    "no_intimidation": "no threats, insults, shouting or show of force",
    "no_restriction_of_liberty": "no one's movement was restricted and the visit ended when asked",
    "no_disclosure_to_others": "nothing about the debt was said to neighbours, family or others",
    "left_by_end_of_hours": "the visit ended inside the allowed hours",
}


@dataclass(frozen=True, slots=True)
class CaseFacts:
    status: str
    bucket: str
    overdue_amount: int
    visits_this_month: int  # requested or done this calendar month, not rejected or cancelled
    has_address: bool


def request_problems(case: CaseFacts, policy: CollectionsPolicy) -> list[str]:
    problems = []
    if case.status != "open":
        problems.append("the case is closed")
    if case.bucket not in ("M1", "M2", "M3", "M3+") or bucket_rank(case.bucket) < bucket_rank(
        policy.visit_min_bucket
    ):
        problems.append(f"field visits start at bucket {policy.visit_min_bucket}; this case is {case.bucket}")
    if case.overdue_amount < policy.visit_min_balance:
        problems.append(
            f"field visits need at least {policy.visit_min_balance} fen overdue; "
            f"this case has {case.overdue_amount}"
        )
    if case.visits_this_month >= policy.visits_per_case_per_month:
        problems.append(
            f"the case already has {case.visits_this_month} visits this month (the most is "
            f"{policy.visits_per_case_per_month})"
        )
    if not case.has_address:
        problems.append("the customer has no registered address: a visit may only go there")
    return problems


@dataclass(frozen=True, slots=True)
class Crew:
    agent_a: int
    agent_b: int
    roles: Mapping[int, str]  # agent id -> role, for the agents named (missing: unknown or inactive)


def approval_problems(crew: Crew, slot_local: datetime, today: date, policy: CollectionsPolicy) -> list[str]:
    """Two different, active field agents, and a slot announced at least the notice days ahead."""
    problems = []
    if crew.agent_a == crew.agent_b:
        problems.append("a visit needs two different agents")
    for agent in (crew.agent_a, crew.agent_b):
        role = crew.roles.get(agent)
        if role is None:
            problems.append(f"agent {agent} is unknown or inactive")
        elif role != "field_agent":
            problems.append(f"agent {agent} is a {role}, not a field agent")
    if slot_local.tzinfo is None:
        problems.append("the slot needs a time zone")
    elif (slot_local.date() - today).days < policy.visit_notice_days:
        problems.append(
            f"the customer must be told at least {policy.visit_notice_days} days before; "
            f"the slot is on {slot_local.date()}"
        )
    return problems


def outcome_problems(outcome: str, checklist: Mapping[str, bool]) -> list[str]:
    """Every conduct item answered (yes or no), and a known outcome."""
    problems = []
    if outcome not in OUTCOMES:
        problems.append(f"outcome must be one of {', '.join(OUTCOMES)}")
    missing = [item for item in CONDUCT if item not in checklist]
    if missing:
        problems.append(f"answer every conduct item: {', '.join(missing)} missing")
    unknown = [item for item in checklist if item not in CONDUCT]
    if unknown:
        problems.append(f"unknown conduct items: {', '.join(unknown)}")
    if any(not isinstance(v, bool) for v in checklist.values()):
        problems.append("conduct items are answered true or false")
    return problems


def breaches(checklist: Mapping[str, bool]) -> list[str]:
    """The conduct items answered "no": recorded as they happened, reported for review."""
    return [item for item in CONDUCT if checklist.get(item) is False]
