"""`bnpl risk …`: the background risk jobs and rule statistics on the command line."""

from __future__ import annotations

import typer

risk_app = typer.Typer(help="Risk: exposure, merchant graph signals, rule statistics.", no_args_is_help=True)
graph_app = typer.Typer(
    help="Cash-out (套现) collusion signals per merchant, from the customer–device–address graph.",
    no_args_is_help=True,
)
risk_app.add_typer(graph_app, name="graph")


@graph_app.command("refresh")
def graph_refresh() -> None:
    """Recompute every merchant's ring, return and first-bill signals over the last 90 days as of
    now (the business clock) and replace the rows checkouts read; prints a summary."""
    from bnpl.cli import emit, platform
    from bnpl.risk import graph

    emit(graph.refresh(platform()))


@graph_app.command("show")
def graph_show(merchant_id: int) -> None:
    """A merchant's stored signals, and what a checkout reads from them (0 without a row)."""
    from bnpl.cli import emit, platform
    from bnpl.risk import graph

    with platform().read() as c:
        emit(graph.show(c, merchant_id))
