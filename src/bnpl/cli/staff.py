"""`bnpl staff …`: the members of staff who sign in to the ops console (served by `bnpl serve` at
/console)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from bnpl.cli.app import emit, run

staff_app = typer.Typer(help="Staff who sign in to the ops console at /console.", no_args_is_help=True)


@staff_app.command("add")
def staff_add(
    username: str,
    role: Annotated[
        str, typer.Option(help="admin | risk_analyst | agent | field_agent | supervisor | merchant")
    ],
    agent: Annotated[
        int | None, typer.Option(help="the collections agent an agent, field agent or supervisor is")
    ] = None,
    merchant: Annotated[int | None, typer.Option(help="the merchant a merchant user works for")] = None,
) -> None:
    """Add a member of staff. The password is read from BNPL_STAFF_PASSWORD, or asked for."""
    from bnpl.services.staff import create_staff

    password = os.environ.get("BNPL_STAFF_PASSWORD") or typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    emit(run(lambda ctx: create_staff(ctx, username, password, role, agent, merchant)))


@staff_app.command("disable")
def staff_disable(username: str) -> None:
    """Stop a member of staff signing in; their open sessions end at once."""
    from bnpl.services.staff import set_active

    emit(run(lambda ctx: set_active(ctx, username, False)))


@staff_app.command("enable")
def staff_enable(username: str) -> None:
    """Let a disabled member of staff sign in again."""
    from bnpl.services.staff import set_active

    emit(run(lambda ctx: set_active(ctx, username, True)))
