"""`bnpl risk …`: the background risk jobs and rule statistics on the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from bnpl.cli.app import CliError, emit, platform

risk_app = typer.Typer(help="Risk: exposure, merchant graph signals, rule statistics.", no_args_is_help=True)
graph_app = typer.Typer(
    help="Cash-out (套现) collusion signals per merchant, from the customer–device–address graph.",
    no_args_is_help=True,
)
exposure_app = typer.Typer(help="Outstanding per merchant and on the platform.", no_args_is_help=True)
risk_app.add_typer(graph_app, name="graph")
risk_app.add_typer(exposure_app, name="exposure")


@exposure_app.command("refresh")
def exposure_refresh() -> None:
    """Recompute the exposure snapshots the checkout caps read (end of day also does)."""
    from bnpl.services import exposure

    emit(exposure.refresh(platform()))


@graph_app.command("refresh")
def graph_refresh(
    lookback_days: Annotated[
        int, typer.Option("--lookback-days", help="checkouts of the last N days (1 to 365)")
    ] = 90,
) -> None:
    """Recompute every merchant's ring, return and first-bill signals as of now on the business
    clock, and replace the rows checkouts read (`merchant.cashout_score` and others). Prints a
    summary: the graph, how many merchants score 0.6 or more, the top five."""
    from bnpl.risk import graph

    if not 1 <= lookback_days <= 365:
        raise CliError("--lookback-days must be between 1 and 365")
    emit(graph.refresh(platform(), lookback_days=lookback_days))


@graph_app.command("show")
def graph_show(merchant_id: int) -> None:
    """A merchant's stored signals, and what a checkout reads from them (0 without a row)."""
    from bnpl.risk import graph

    with platform().read() as c:
        emit(graph.show(c, merchant_id))
