"""`bnpl merchant …`: merchants."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bnpl.cli.app import CliError, emit, run
from bnpl.runtime import Ctx

app = typer.Typer(help="Merchants.", no_args_is_help=True)


@app.command("create")
def merchant_create(
    name: str,
    mdr_bps: Annotated[int, typer.Option(help="merchant discount rate, basis points")] = 60,
    trial_days: int = 7,
    settlement_delay_days: int = 7,
    category: Annotated[list[str] | None, typer.Option(help="a category it sells (repeat)")] = None,
) -> None:
    from bnpl.services import parties

    emit(
        run(lambda c: parties.create_merchant(c, name, mdr_bps, trial_days, settlement_delay_days, category))
    )


@app.command("cap")
def merchant_cap(
    merchant_id: int,
    outstanding: Annotated[int | None, typer.Option(help="most outstanding on its orders, fen")] = None,
    default: Annotated[bool, typer.Option("--default", help="back to the policy's default")] = False,
) -> None:
    """Cap what may be outstanding on one merchant's orders."""
    from bnpl.services import parties

    if default == (outstanding is not None):
        raise CliError("give --outstanding FEN or --default")
    emit(run(lambda c: parties.set_merchant_cap(c, merchant_id, outstanding)))


@app.command("show")
def merchant_show(merchant_id: int) -> None:
    from bnpl.services import parties, settlement

    def work(c: Ctx) -> Any:
        return {
            **parties.get_merchant(c, merchant_id),
            "balances": settlement.merchant_balances(c, merchant_id),
        }

    emit(run(work))
