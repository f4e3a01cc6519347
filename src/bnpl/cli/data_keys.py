"""`bnpl data-keys …`: the keys that seal personal data at rest (``store/crypto.py``): make one,
see which keys seal how much, and reseal everything under the primary key after a rotation."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from bnpl.cli.app import CliError, emit, out, platform, run
from bnpl.runtime import Ctx

keys_app = typer.Typer(
    help="Keys sealing personal data at rest (BNPL_DATA_KEYS, BNPL_LOOKUP_KEY).", no_args_is_help=True
)


@keys_app.command("new")
def keys_new(
    key_id: Annotated[str | None, typer.Option("--id", help="the new key's id (default: k<today>)")] = None,
    lookup: Annotated[bool, typer.Option(help="a BNPL_LOOKUP_KEY instead")] = False,
) -> None:
    """Print a fresh random key: an `id:base64key` entry to put first in BNPL_DATA_KEYS, or with
    --lookup a value for BNPL_LOOKUP_KEY (set once; it cannot be rotated)."""
    from bnpl.services.data_keys import new_data_key, new_lookup_key

    try:
        typer.echo(new_lookup_key() if lookup else new_data_key(key_id or f"k{date.today():%Y%m%d}"))
    except ValueError as exc:
        raise CliError(str(exc)) from None


@keys_app.command("status")
def keys_status() -> None:
    """The primary key, the ring, and how many values each key seals in each sealed column."""
    from bnpl.services import data_keys

    keys = platform().settings.keys

    def work(ctx: Ctx) -> dict[str, object]:
        return {
            "primary": keys.primary,
            "keys": list(keys.key_ids),
            "development_keys": keys.development,
            "columns": data_keys.usage(ctx),
            "not_under_primary": data_keys.pending(ctx),
        }

    emit(run(work))


@keys_app.command("reencrypt")
def keys_reencrypt(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="rows per transaction")] = 500,
) -> None:
    """Reseal every value not under the primary key (the first of BNPL_DATA_KEYS). Safe to stop
    and run again, and beside the running platform."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from bnpl.services import data_keys

    p = platform()
    todo = run(data_keys.pending)
    with Progress(
        TextColumn(f"resealing under key {p.settings.keys.primary!r}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=out,
        transient=False,
    ) as bar:
        task = bar.add_task("reseal", total=todo)
        done = data_keys.reencrypt(p, batch, lambda n: bar.advance(task, n))
    emit({"resealed": done, "primary": p.settings.keys.primary, "not_under_primary": run(data_keys.pending)})
