"""What every `bnpl` command shares: the root app and its `--date` option, the platform opened
once per run, output, and the one place errors become a one-line message and an exit code."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console

from bnpl.domain.errors import DomainError
from bnpl.runtime import ADMIN, Ctx, FixedClock, Platform, Settings
from bnpl.services.boot import migrate, open_platform

app = typer.Typer(
    help="bnpl — use first, pay later (先用后付) credit platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

out = Console()
err = Console(stderr=True)
state: dict[str, Any] = {}

DateOpt = Annotated[str | None, typer.Option("--date", help="business date YYYY-MM-DD (default: today)")]


class CliError(Exception):
    pass


def platform(day: str | None = None) -> Platform:
    if "platform" not in state:
        overrides = {"allow_forward_dates": True} if state.get("allow_forward_dates") else {}
        settings = Settings.from_env(**overrides)
        chosen = day or state.get("date")
        clock = FixedClock(parse_date(chosen)) if chosen else None
        state["platform"] = open_platform(settings, clock=clock)
        migrate(state["platform"])  # zero set-up: the schema follows the code
    p: Platform = state["platform"]
    return p


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"not a date (YYYY-MM-DD): {text!r}") from None


def emit(value: Any) -> None:
    out.print_json(json.dumps(value, ensure_ascii=False, default=str))


def run(work: Callable[[Ctx], Any], actor: Any = ADMIN) -> Any:
    return platform().run(actor, work)


@app.callback()
def main_options(
    date_: DateOpt = None,
    allow_forward_dates: Annotated[
        bool,
        typer.Option(
            "--allow-forward-dates",
            help="let this command act on a date after the open business date (audited)",
        ),
    ] = False,
) -> None:
    """Options for every command."""
    if date_:
        state["date"] = date_
    if allow_forward_dates:
        state["allow_forward_dates"] = True


def _fail(message: str, code: int) -> None:
    # user input is echoed in messages: print it as plain text, never as Rich markup
    err.print(f"error: {message}", markup=False, emoji=False, highlight=False, soft_wrap=True)
    sys.exit(code)


def main() -> None:
    try:
        app()
    except DomainError as exc:
        _fail(exc.detail, 1)
    except CliError as exc:
        _fail(str(exc), 2)
    except OverflowError:
        _fail("a number is too large", 2)
    except Exception as exc:  # a one-line message, never a traceback to the user
        if os.environ.get("BNPL_DEBUG"):
            raise
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        _fail(f"{type(exc).__name__}: {first_line}", 1)
