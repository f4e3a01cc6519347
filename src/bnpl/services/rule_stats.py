"""Rule hit counts and outcomes per rule-set version, from the stored decisions.

Every decision keeps the rule set's version and every hit (live and shadow), so a risk analyst can
see, before switching a shadow rule live, how often it fires and on which outcomes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from typing import Any

from sqlalchemy import select

from bnpl.runtime import Ctx
from bnpl.store.tables import decisions


def rule_stats(ctx: Ctx, since: date | None = None) -> list[dict[str, Any]]:
    """One entry per rule-set version: decisions and their outcomes, and per rule its live and
    shadow hits and the outcomes of the decisions it hit."""
    ctx.actor.require("risk_analyst")
    query = select(decisions.c.outcome, decisions.c.versions, decisions.c.rule_hits)
    if since is not None:
        query = query.where(decisions.c.business_date >= since)
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    rules: dict[str, dict[tuple[str, str, str, str], Counter[str]]] = defaultdict(
        lambda: defaultdict(Counter)
    )
    errors: Counter[str] = Counter()
    for row in ctx.conn.execute(query.execution_options(yield_per=5_000)):
        version = (row.versions or {}).get("rules") or "no rules"
        outcomes[version][row.outcome] += 1
        hits = row.rule_hits or {}
        for h in hits.get("hits", []):
            rules[version][(h["rule_id"], h["mode"], h["action"], h["reason"])][row.outcome] += 1
        if hits.get("errors"):
            errors[version] += 1
    out = []
    for version in sorted(outcomes):
        total = sum(outcomes[version].values())
        out.append(
            {
                "rules_version": version,
                "decisions": total,
                "outcomes": dict(sorted(outcomes[version].items())),
                "decisions_with_rule_errors": errors[version],
                "rules": [
                    {
                        "rule_id": rule_id,
                        "mode": mode,
                        "action": action,
                        "reason": reason,
                        "hits": sum(by_outcome.values()),
                        "hit_rate": round(sum(by_outcome.values()) / total, 6),
                        "outcomes": dict(sorted(by_outcome.items())),
                    }
                    for (rule_id, mode, action, reason), by_outcome in sorted(rules[version].items())
                ],
            }
        )
    return out
