"""`bnpl review …`, `bnpl decision explain` and `bnpl rules stats`: what the risk rules decided."""

from __future__ import annotations

from typing import Annotated

import typer

from bnpl.cli.app import emit, out, parse_date, platform, run
from bnpl.runtime import ADMIN

review_app = typer.Typer(help="Orders a risk rule sent to manual review.", no_args_is_help=True)
decision_app = typer.Typer(help="Checkout decisions.", no_args_is_help=True)
rules_app = typer.Typer(help="Risk rule sets.", no_args_is_help=True)


@review_app.command("list")
def review_list() -> None:
    """Orders waiting for an analyst, oldest first."""
    from bnpl.services import orders

    emit(
        [
            {
                "order_id": o["id"],
                "customer_id": o["customer_id"],
                "amount": o["amount"],
                "reasons": [r["code"] for r in o["decision"]["reasons"]],
                "expires_on": o["expires_on"],
            }
            for o in run(orders.list_reviews)
        ]
    )


@review_app.command("approve")
def review_approve(
    order_id: int, note: Annotated[str, typer.Option(help="why (kept in the audit log)")]
) -> None:
    from bnpl.services import orders

    emit(run(lambda c: orders.decide_review(c, order_id, True, note)))


@review_app.command("decline")
def review_decline(
    order_id: int, note: Annotated[str, typer.Option(help="why (kept in the audit log)")]
) -> None:
    from bnpl.services import orders

    emit(run(lambda c: orders.decide_review(c, order_id, False, note)))


@decision_app.command("explain")
def decision_explain(decision_id: int, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """A stored decision in plain language: outcome, reasons, rules (live and shadow), versions."""
    from bnpl.services import explain

    view = run(lambda c: explain.get_decision(c, decision_id))
    if json_out:
        emit(view)
    else:
        out.print(explain.explain(view), markup=False, highlight=False)


@rules_app.command("stats")
def rules_stats(
    since: Annotated[str | None, typer.Option(help="decisions from this date, YYYY-MM-DD")] = None,
) -> None:
    """Hits per rule (live and shadow) and outcomes, per rule-set version."""
    from bnpl.services import rule_stats

    day = parse_date(since) if since else None
    with platform().read(ADMIN) as c:
        emit(rule_stats.rule_stats(c, day))
