"""A policy the simulator runs: the platform's settings that a risk or collections team would change,
and the desk's staffing. Two policies run on the same world and seed are a fair comparison.

A policy is a preset name (``baseline``, ``generous``, ``cautious``, ``no-rules``, ``light-desk``,
``no-feed``) or a YAML file, for example::

    name: generous
    onboarding_limit: 150000      # fen: the line a new account opens with (0: by grade at its first checkout)
    credit: {starter_limit: 100000}
    collections: {charge_off_dpd: 90}
    rules: default                # default | none | a rules YAML path
    agents: 4                     # collections agents calling, each up to calls_per_agent a day
    calls_per_agent: 40
    field_visits: true            # a supervisor approves visits the strategy suggests
    marketplace_feed: true        # shoppers consent and the marketplace sends its data feed
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from bnpl.domain.credit import CreditPolicy
from bnpl.domain.delinquency import CollectionsPolicy

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")


@dataclass(frozen=True)
class SimPolicy:
    name: str = "baseline"
    # fen: the line an account opens with; 0 gives none, and the first checkout sets it by the
    # shopper's grade (the starter limit for a thin file)
    onboarding_limit: int = 0
    credit: CreditPolicy = field(default_factory=CreditPolicy)
    # simulated baskets are small (a few hundred yuan): visits from 200 yuan overdue, not the
    # platform's 500, so the desk's last stage shows up in a season
    collections: CollectionsPolicy = field(
        default_factory=lambda: CollectionsPolicy(visit_min_balance=20_000)
    )
    rules: str | None = "default"
    agents: int = 4
    calls_per_agent: int = 40
    analyst_reviews: bool = True  # an analyst decides the review queue each morning
    field_visits: bool = True  # a supervisor and two field agents visit where the strategy suggests
    # the host marketplace asks its shoppers for consent and sends the platform its data feed
    marketplace_feed: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            raise ValueError(
                "a policy name is 1-40 letters, digits, dashes or underscores (it names a folder)"
            )
        for key in ("onboarding_limit", "agents", "calls_per_agent"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{key} must be a whole number")
        for key in ("analyst_reviews", "field_visits", "marketplace_feed"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"{key} is true or false")
        if self.rules is not None and not isinstance(self.rules, str):
            raise ValueError("rules is default, none, or the path of a rules file")
        if not 0 <= self.onboarding_limit <= 10_000_000:
            raise ValueError("onboarding_limit is 0 (by grade) to 10,000,000 fen")
        if not 0 <= self.agents <= 200 or not 0 <= self.calls_per_agent <= 500:
            raise ValueError("agents is 0-200 and calls_per_agent 0-500")


PRESETS: dict[str, dict[str, Any]] = {
    "baseline": {},
    # bigger opening lines and starter limits: more sales, more risk
    "generous": {"onboarding_limit": 200_000, "credit": {"starter_limit": 150_000}},
    # smaller first lines
    "cautious": {"onboarding_limit": 50_000, "credit": {"starter_limit": 30_000}},
    # the real-time rules switched off (fraud signals no longer decline or review)
    "no-rules": {"rules": None},
    # a desk of one agent making few calls
    "light-desk": {"agents": 1, "calls_per_agent": 15, "field_visits": False},
    # the platform as it was before the marketplace feed: no shopper's consent, nothing sent, and
    # every line opening at one fixed amount
    "no-feed": {"marketplace_feed": False, "onboarding_limit": 100_000},
}


def load_policy(spec: str) -> SimPolicy:
    """A preset by name, or a YAML file; unknown keys and bad values are refused."""
    if spec in PRESETS:
        return build({"name": spec, **PRESETS[spec]})
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"{spec!r} is neither a policy preset ({', '.join(PRESETS)}) nor a YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{spec}: not valid YAML ({exc.__class__.__name__})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{spec}: cannot read it as UTF-8 text ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{spec}: a policy is a mapping of settings")
    return build({"name": path.stem, **data})


def build(data: dict[str, Any]) -> SimPolicy:
    known = {f.name for f in fields(SimPolicy)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown policy setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
    values = dict(data)
    defaults = SimPolicy()
    for key, base in (("credit", defaults.credit), ("collections", defaults.collections)):
        if key in values:
            values[key] = _override(base, values[key], key)
    if "rules" in values and values["rules"] in ("none", None):
        values["rules"] = None
    try:
        return SimPolicy(**values)
    except TypeError as exc:
        raise ValueError(f"bad policy: {exc}") from None


def _override(base: Any, changes: Any, what: str) -> Any:
    if not isinstance(changes, dict):
        raise ValueError(f"{what} is a mapping of settings")
    allowed = {f.name: type(getattr(base, f.name)) for f in fields(base)}
    for key, value in changes.items():
        if key not in allowed or allowed[key] is not int:
            raise ValueError(f"{what}.{key} cannot be set here; numeric settings only")
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{what}.{key} must be a whole number")
    return replace(base, **changes)
