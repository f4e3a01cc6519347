"""`bnpl customer …`: customers and their credit accounts."""

from __future__ import annotations

from typing import Annotated

import typer

from bnpl.cli.app import CliError, emit, run
from bnpl.services import credit_lines

app = typer.Typer(help="Customers and credit accounts.", no_args_is_help=True)


@app.command("create")
def customer_create(
    name: str,
    limit: Annotated[int, typer.Option(help="credit limit in fen")],
    phone: Annotated[str | None, typer.Option(help="mobile number (masked wherever staff read it)")] = None,
    address: Annotated[
        str | None, typer.Option(help="registered address: where a field visit may go")
    ] = None,
) -> None:
    from bnpl.services import parties

    emit(run(lambda c: parties.create_customer(c, name, limit, phone=phone, address=address)))


@app.command("find")
def customer_find(
    phone: Annotated[str | None, typer.Option(help="mobile number (spaces and dashes do not matter)")] = None,
    address: Annotated[str | None, typer.Option(help="registered address (case, spacing ignored)")] = None,
) -> None:
    """The customers with this phone number and/or registered address (through their keyed hashes)."""
    from bnpl.services import parties

    emit(run(lambda c: parties.find_customers(c, phone=phone, address=address)))


@app.command("contact")
def customer_contact(
    customer_id: int,
    phone: Annotated[str | None, typer.Option(help='new mobile number ("" clears it)')] = None,
    address: Annotated[str | None, typer.Option(help='new registered address ("" clears it)')] = None,
) -> None:
    """Change a customer's phone number or registered address (sealed at rest; the audit log says
    which changed, not to what)."""
    from bnpl.services import parties

    emit(run(lambda c: parties.set_contact(c, customer_id, phone=phone, address=address)))


@app.command("show")
def customer_show(customer_id: int) -> None:
    from bnpl.services import parties

    emit(run(lambda c: parties.get_customer(c, customer_id)))


@app.command("set")
def customer_set(
    customer_id: int,
    limit: Annotated[int | None, typer.Option(help="new credit limit in fen")] = None,
    state: Annotated[str | None, typer.Option(help="active | frozen | closed | blocked")] = None,
) -> None:

    emit(run(lambda c: credit_lines.set_account(c, customer_id, limit, state)))


@app.command("controls")
def customer_controls(
    customer_id: int,
    own_limit: Annotated[
        int | None, typer.Option(help="a spending ceiling of the customer's own, fen")
    ] = None,
    clear_own_limit: Annotated[bool, typer.Option(help="remove that ceiling")] = False,
    pause_days: Annotated[int | None, typer.Option(help="pause use first, pay later; 0 resumes")] = None,
) -> None:
    """Responsible spending: the customer's own ceiling and pause."""

    if clear_own_limit and own_limit is not None:
        raise CliError("--own-limit and --clear-own-limit exclude each other")
    own: object = None if clear_own_limit else credit_lines.KEEP if own_limit is None else own_limit
    emit(run(lambda c: credit_lines.set_controls(c, customer_id, own, pause_days)))


@app.command("statement")
def customer_statement(customer_id: int) -> None:
    from bnpl.services import statements

    emit(run(lambda c: statements.statement(c, customer_id)))
