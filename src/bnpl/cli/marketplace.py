"""`bnpl marketplace …`: the shopper's consent to the use of marketplace data, importing the
marketplace's feed from a file (JSON Lines or CSV), and a shopper's feed features."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bnpl.cli.app import CliError, emit, err, run

marketplace_app = typer.Typer(
    help="The host marketplace's data feed, used with consent.", no_args_is_help=True
)
consent_app = typer.Typer(
    help="A shopper's consent to the use of their marketplace data.", no_args_is_help=True
)
marketplace_app.add_typer(consent_app, name="consent")


@consent_app.command("grant")
def consent_grant(
    customer_id: int,
    notice_version: Annotated[str, typer.Option(help="the version of the privacy notice shown")],
    scope: Annotated[str, typer.Option(help="record types, comma-separated")] = "profile,order,engagement",
    purpose: Annotated[str, typer.Option(help="what the data is used for")] = "credit_assessment",
) -> None:
    """Record that the shopper consented (admin, on the marketplace's word)."""
    from bnpl.services import marketplace

    kinds = [s.strip() for s in scope.split(",") if s.strip()]
    emit(run(lambda c: marketplace.grant_consent(c, customer_id, purpose, kinds, notice_version)))


@consent_app.command("withdraw")
def consent_withdraw(customer_id: int) -> None:
    """Withdraw the shopper's consent: nothing of the feed is used or accepted from now on."""
    from bnpl.services import marketplace

    emit(run(lambda c: marketplace.withdraw_consent(c, customer_id)))


@consent_app.command("show")
def consent_show(customer_id: int) -> None:
    """The consent in effect now and every consent event."""
    from bnpl.services import marketplace

    emit(run(lambda c: marketplace.consent_status(c, customer_id, history=True)))


def read_records(path: Path) -> tuple[list[tuple[int, Any]], bool]:
    """The file's records with their (1-based) line numbers, and whether they are CSV text."""
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv"):
        raise CliError(f"{path.name}: give a .jsonl (JSON Lines) or .csv file")
    try:
        with path.open(encoding="utf-8", newline="") as f:
            if suffix == ".csv":
                reader = csv.DictReader(f)
                rows: list[tuple[int, Any]] = []
                for row in reader:
                    if None in row:
                        raise CliError(f"line {reader.line_num}: more cells than the header has columns")
                    rows.append((reader.line_num, row))
                return rows, True
            records = []
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    records.append((number, json.loads(line)))
                except ValueError:
                    raise CliError(f"line {number}: not valid JSON; nothing written") from None
            return records, False
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CliError(f"{path.name}: not UTF-8 text") from None


@marketplace_app.command("import")
def import_feed(file: Path) -> None:
    """Import a feed file: one transaction, checked first, so a bad line refuses the whole file
    (its line and reason are named) and nothing is written."""
    from bnpl.services import marketplace

    records, text = read_records(file)
    if not records:
        raise CliError(f"{file.name}: no records")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("importing", total=len(records))
        summary = run(
            lambda c: marketplace.ingest(
                c,
                records,
                where="line",
                text=text,
                max_batch=None,
                progress=lambda done: bar.update(task, completed=done),
            )
        )
        bar.update(task, completed=len(records))
    emit(summary)


@marketplace_app.command("features")
def features(
    customer_id: int,
    at: Annotated[str | None, typer.Option(help="ISO 8601 time with a zone (default: now)")] = None,
) -> None:
    """A shopper's feed features and feed status, as of now or a past moment."""
    from bnpl.services import marketplace

    moment = None
    if at is not None:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            raise CliError(f"not an ISO 8601 time: {at!r}") from None
        if moment.tzinfo is None:
            raise CliError("--at needs a time zone (e.g. 2026-03-01T00:00:00+08:00)")
    emit(run(lambda c: marketplace.feed_features(c, customer_id, moment)))
