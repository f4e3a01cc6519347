"""`bnpl order …` and `bnpl return …`: the order lifecycle."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bnpl.cli.app import CliError, emit, run
from bnpl.runtime import Ctx

order_app = typer.Typer(help="The order lifecycle.", no_args_is_help=True)
return_app = typer.Typer(help="Returns within the trial window.", no_args_is_help=True)


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


@order_app.command("batch")
def order_batch(
    file: Annotated[
        str, typer.Argument(help='a JSON file: a list of checkouts, or {"orders": [...]}; - for stdin')
    ],
    merchant: Annotated[int, typer.Option(help="merchant id")],
) -> None:
    """Decide a merchant's queue of checkouts (a live stream's), as POST /orders/batch does: each
    checkout is {customer_id, items: [{sku, category, unit_price, quantity}], plan?, channel?,
    fee_payer?, stream_id?, ...}. Up to 500 checkouts share a transaction; one refused checkout
    never fails the others. Prints one answer per checkout, in order."""
    import json
    import sys
    from functools import partial

    from bnpl.domain.errors import DomainError
    from bnpl.domain.orders import Item
    from bnpl.services import orders

    try:
        text = sys.stdin.read() if file == "-" else open(file, encoding="utf-8").read()  # noqa: SIM115
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read checkouts from {file}: {exc}") from None
    rows = data.get("orders") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not rows:
        raise CliError('expected a non-empty list of checkouts (or {"orders": [...]})')
    cmds = []
    for n, row in enumerate(rows):
        try:
            cmds.append(
                orders.AuthorizeCommand(
                    merchant,
                    int(row["customer_id"]),
                    [
                        Item(str(i["sku"]), str(i["category"]), int(i["unit_price"]), int(i["quantity"]))
                        for i in row["items"]
                    ],
                    str(row.get("plan", "pay_after_trial")),
                    str(row.get("channel", "mall")),
                    fee_payer=str(row.get("fee_payer", "customer")),
                    stream_id=row.get("stream_id"),
                    creator_id=row.get("creator_id"),
                    device_id=row.get("device_id"),
                    address_hash=row.get("address_hash"),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CliError(
                f"checkout {n}: needs customer_id and items of sku, category, unit_price, quantity ({exc})"
            ) from None
    answers: list[Any] = []
    for start in range(0, len(cmds), orders.MAX_BATCH):
        chunk = cmds[start : start + orders.MAX_BATCH]
        results: list[Any] = run(partial(orders.authorize_many, cmds=chunk))
        for r in results:
            answers.append({"error": r.code, "detail": r.detail} if isinstance(r, DomainError) else r)
    emit(answers)


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
