"""`bnpl key rotate|revoke` and `bnpl collections agent disable|enable`: API keys through their life
(``services/apikeys.py``), as an admin. `bnpl data-keys` (``cli/data_keys.py``) is something else: the
keys that seal personal data at rest.

A running API process that had the old key cached may accept it for up to
``services.apikeys.KEY_CACHE_SECONDS`` more seconds; the same change made through the API takes
effect at once in the process that made it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bnpl.cli.app import CliError, emit, run
from bnpl.cli.collections import agent_app
from bnpl.runtime import Ctx

key_app = typer.Typer(
    help="API keys of merchants, customers and collections agents: rotate, revoke.", no_args_is_help=True
)

MAX_ID = 2**63 - 1
HolderOpt = Annotated[int | None, typer.Option(min=1, max=MAX_ID, help="the holder's id")]


def _holder(merchant: int | None, customer: int | None, agent: int | None) -> tuple[str, int]:
    given = [(kind, n) for kind, n in (("merchant", merchant), ("customer", customer), ("agent", agent)) if n]
    if len(given) != 1:
        raise CliError("name exactly one holder: --merchant N, --customer N or --agent N")
    return given[0]


@key_app.command("rotate")
def key_rotate(merchant: HolderOpt = None, customer: HolderOpt = None, agent: HolderOpt = None) -> None:
    """Stop every API key of the holder now and print a new one (shown this once)."""
    from bnpl.services import apikeys

    kind, subject_id = _holder(merchant, customer, agent)
    emit(run(lambda ctx: apikeys.rotate(ctx, kind, subject_id)))


@key_app.command("revoke")
def key_revoke(merchant: HolderOpt = None, customer: HolderOpt = None, agent: HolderOpt = None) -> None:
    """Stop every API key of the holder now; none replaces it (rotate to issue one)."""
    from bnpl.services import apikeys

    kind, subject_id = _holder(merchant, customer, agent)
    emit(run(lambda ctx: apikeys.revoke(ctx, kind, subject_id)))


def _set_active(agent_id: int, active: bool) -> None:
    from bnpl.services import apikeys

    def work(ctx: Ctx) -> dict[str, Any]:
        return apikeys.set_agent_active(ctx, agent_id, active)

    emit(run(work))


@agent_app.command("disable")
def agent_disable(agent_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="the agent's id")]) -> None:
    """The agent may no longer act and their API key is refused until enabled again; their open
    cases stay theirs until a supervisor reassigns them."""
    _set_active(agent_id, False)


@agent_app.command("enable")
def agent_enable(agent_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="the agent's id")]) -> None:
    """A disabled agent may act again, with the key they had."""
    _set_active(agent_id, True)
