"""`bnpl risk …`: the background risk jobs and rule statistics on the command line."""

from __future__ import annotations

import typer

risk_app = typer.Typer(help="Risk: exposure, merchant graph signals, rule statistics.", no_args_is_help=True)
