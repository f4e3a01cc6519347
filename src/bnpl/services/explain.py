"""Explaining a stored decision in plain language: to a customer (the reasons) and to an analyst
(also the rules that fired, live and shadow, the signals they saw, and the versions)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from bnpl.domain.errors import NotFound
from bnpl.runtime import Ctx
from bnpl.services.access import customer_scope
from bnpl.store.tables import decisions, orders

OUTCOME_WORDS = {
    "approve": "approved",
    "decline": "declined",
    "review": "sent to a manual review (the amount is held meanwhile)",
    "approve_lower": "offered a lower amount",
}


def get_decision(ctx: Ctx, decision_id: int) -> dict[str, Any]:
    found = search(ctx, decision_id=decision_id)
    if not found:
        raise NotFound(f"decision {decision_id} not found")
    return found[0]


def search(
    ctx: Ctx,
    decision_id: int | None = None,
    customer_id: int | None = None,
    outcome: str | None = None,
    day: date | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Decisions newest first, each as the actor may see it, in one query (the order each made
    joined by its own index). Each caller sees the decisions of the customers they may see
    (``services.access``): a customer their own, an agent those of their cases, a merchant none."""
    scope = customer_scope(ctx.actor, decisions.c.customer_id)
    d = decisions.c
    query = (
        select(decisions, orders.c.id.label("order_id"))
        .outerjoin(orders, orders.c.decision_id == d.id)
        .order_by(d.id.desc())
        .limit(min(max(limit, 1), 200))
    )
    if scope is not None:
        query = query.where(scope)
    for column, value in (
        (d.id, decision_id),
        (d.customer_id, customer_id),
        (d.outcome, outcome),
        (d.business_date, day),
    ):
        if value is not None:
            query = query.where(column == value)
    if before is not None:
        query = query.where(d.id < before)
    return [_view(ctx, row) for row in ctx.conn.execute(query).mappings()]


def _view(ctx: Ctx, row: Any) -> dict[str, Any]:
    a = ctx.actor
    view: dict[str, Any] = {
        "id": row["id"],
        "order_id": row["order_id"],
        "customer_id": row["customer_id"],
        "merchant_id": row["merchant_id"],
        "business_date": row["business_date"].isoformat(),
        "amount": row["amount"],
        "outcome": row["outcome"],
        "approved_amount": row["approved_amount"],
        "reasons": row["reasons"],
        "versions": row["versions"],
    }
    credit = row["inputs"].get("credit")
    if credit:  # the customer may see their score and grade (none means much on a thin file)
        shown = ("thin_file",) if credit["thin_file"] else ("score", "grade", "thin_file")
        view["credit"] = {k: credit[k] for k in shown}
    if a.role == "customer":  # which model and rules decided is for staff
        view["versions"] = {k: v for k, v in row["versions"].items() if k == "policy"}
    if a.role in ("admin", "system", "risk_analyst"):
        if credit:
            view["credit"] = credit  # rule internals are for staff, not for gaming
        hits = row["rule_hits"] or {"hits": [], "errors": []}
        view |= {
            "rule_hits": hits["hits"],
            "rule_errors": hits["errors"],
            "signals": row["inputs"].get("signals", {}),
        }
    return view


def explain(view: dict[str, Any]) -> str:
    """A few readable lines about one decision."""
    yuan = f"{view['amount'] / 100:,.2f}"
    outcome = OUTCOME_WORDS.get(view["outcome"], view["outcome"])
    lines = [
        f"Decision {view['id']} on {view['business_date']}: an order of {yuan} yuan from customer "
        f"{view['customer_id']} at merchant {view['merchant_id']} was {outcome}."
    ]
    if view["outcome"] == "approve_lower":
        lines.append(f"The most the customer may check out now is {view['approved_amount'] / 100:,.2f} yuan.")
    for r in view["reasons"]:
        lines.append(f"  because: {r['en']} / {r['zh']} [{r['code']}]")
    credit = view.get("credit")
    if credit:
        pd_ = f", probability of default {credit['pd']:.1%}" if "pd" in credit else ""
        model = f" by model {credit['model_version']}" if "model_version" in credit else ""
        if credit["thin_file"]:
            scored = f" (score {credit['score']}{model} recorded, not used)"
            lines.append("  no bill has fallen due yet: the starter policy applied" + scored)
        else:
            lines.append(f"  credit score {credit['score']}, grade {credit['grade']}{pd_}{model}")
        for version, shadow_pd in sorted(credit.get("shadow", {}).items()):
            lines.append(f"  shadow model {version}: probability of default {shadow_pd:.1%} (recorded only)")
    for h in view.get("rule_hits", []):
        effect = "changed the outcome" if h["mode"] == "live" else "recorded only (shadow)"
        lines.append(f"  rule {h['rule_id']}: {h['action']} ({h['reason']}), {effect}")
    for e in view.get("rule_errors", []):
        lines.append(f"  rule could not be evaluated: {e}")
    versions = ", ".join(f"{k} {v}" for k, v in sorted(view["versions"].items()))
    lines.append(f"  decided by {versions}")
    return "\n".join(lines)
