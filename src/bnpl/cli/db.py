"""`bnpl db …`: the database schema."""

from __future__ import annotations

import typer

from bnpl.cli.app import out, platform

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema (Alembic) on BNPL_DATABASE_URL."""
    platform()  # migrates on open
    out.print(f"schema up to date on {platform().engine.url.render_as_string(hide_password=True)}")
