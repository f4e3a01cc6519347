"""`bnpl order …` and `bnpl return …`: the order lifecycle on the command line (each command one
call of the order service)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bnpl.cli import CliError, emit, order_app, return_app, run
from bnpl.runtime import Ctx


def _item(spec: str) -> Any:
    from bnpl.domain.orders import Item

    parts = spec.split(":")
    if len(parts) != 4:
        raise CliError(f"an item is sku:category:unit_price_fen:quantity, got {spec!r}")
    sku, category, price, qty = parts
    try:
        return Item(sku, category, int(price), int(qty))
    except ValueError:
        raise CliError(f"price and quantity must be whole numbers in {spec!r}") from None


@order_app.command("authorize")
def order_authorize(
    merchant: Annotated[int, typer.Option(help="merchant id")],
    customer: Annotated[int, typer.Option(help="customer id")],
    item: Annotated[list[str], typer.Option(help="sku:category:unit_price_fen:quantity (repeat)")],
    plan: str = "pay_after_trial",
    channel: str = "mall",
    fee_payer: str = "customer",
) -> None:
    """Decide on a checkout and hold the amount on approval."""
    from bnpl.services import orders

    cmd = orders.AuthorizeCommand(
        merchant, customer, [_item(i) for i in item], plan, channel, fee_payer=fee_payer
    )
    emit(run(lambda c: orders.authorize(c, cmd)))


@order_app.command("show")
def order_show(order_id: int) -> None:
    from bnpl.services import orders

    emit(run(lambda c: orders.get_order(c, order_id)))


@order_app.command("capture")
def order_capture(order_id: int) -> None:
    """Ship: the hold becomes principal receivable, the merchant is owed the price less MDR."""
    from bnpl.services import orders

    emit(run(lambda c: orders.capture(c, order_id)))


@order_app.command("deliver")
def order_deliver(order_id: int) -> None:
    """Confirm receipt: the trial window starts."""
    from bnpl.services import orders

    emit(run(lambda c: orders.deliver(c, order_id)))


@order_app.command("cancel")
def order_cancel(order_id: int) -> None:
    from bnpl.services import orders

    emit(run(lambda c: orders.cancel(c, order_id)))


@order_app.command("convert")
def order_convert(order_id: int, plan: Annotated[str, typer.Option(help="m3 | m6 | m12")]) -> None:
    from bnpl.services import orders

    emit(run(lambda c: orders.convert_plan(c, order_id, plan)))


@order_app.command("payoff")
def order_payoff(
    order_id: int, amount: Annotated[int | None, typer.Option(help="fen; default the quote")] = None
) -> None:
    from bnpl.services import orders

    def work(c: Ctx) -> Any:
        return orders.payoff(
            c, order_id, amount if amount is not None else orders.payoff_quote(c, order_id)["amount"]
        )

    emit(run(work))


@order_app.command("return")
def order_return(
    order_id: int,
    item: Annotated[list[str], typer.Option(help="sku:quantity (repeat)")],
    reason: str | None = None,
) -> None:
    """Request a return of some or all items within the trial."""
    from bnpl.services import orders

    wanted: dict[str, int] = {}
    for spec in item:
        sku, _, qty = spec.partition(":")
        if not qty.isdigit():
            raise CliError(f"a returned item is sku:quantity, got {spec!r}")
        wanted[sku] = wanted.get(sku, 0) + int(qty)
    emit(run(lambda c: orders.request_return(c, order_id, wanted, reason)))


@return_app.command("confirm")
def return_confirm(return_id: int) -> None:
    from bnpl.services import orders

    emit(run(lambda c: orders.confirm_return(c, return_id)))


@return_app.command("reject")
def return_reject(return_id: int) -> None:
    from bnpl.services import orders

    emit(run(lambda c: orders.reject_return(c, return_id)))
