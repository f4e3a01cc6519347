"""`bnpl eod …`: end of day."""

from __future__ import annotations

from typing import Annotated

import typer

from bnpl.cli.app import CliError, DateOpt, emit, out, platform, state

app = typer.Typer(help="End of day.", no_args_is_help=True)


@app.command("run")
def eod_run(
    date_: DateOpt = None,
    catch_up: Annotated[
        bool, typer.Option("--catch-up", help="close every date from the open business date through --date")
    ] = False,
) -> None:
    """Run end of day for a business date: expire authorizations, assume deliveries, settle
    merchants, age accounts, charge capped late fees, freeze/unfreeze, charge off, work cases,
    promises and the dunning strategy, accrue funding cost; then close the date. Dates close in
    order: a date after the open business date needs --catch-up. Safe to resume."""
    from bnpl import eod

    if date_:
        state["date"] = date_
    p = platform()
    if catch_up:
        emit([{k: day[k] for k in ("business_date", "steps")} for day in eod.catch_up(p, p.clock.today())])
    else:
        emit(eod.run_eod(p))


@app.command("schedule")
def eod_schedule(
    at: Annotated[str, typer.Option(help="local time HH:MM in the platform's time zone")] = "23:30",
    days: Annotated[int, typer.Option(help="stop after this many runs (0: never)")] = 0,
) -> None:
    """Run end of day every day at a set time (a scheduler in the foreground; Ctrl-C stops it).
    Each run covers every business date missed since the last one."""
    import time as wall
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from bnpl import eod

    try:
        hour, minute = (int(x) for x in at.split(":"))
        datetime(2000, 1, 1, hour, minute)
    except ValueError:
        raise CliError(f"--at is not a time HH:MM: {at!r}") from None
    if days < 0:
        raise CliError("--days must be 0 or more")
    p = platform()
    zone = ZoneInfo(p.settings.timezone)
    runs = 0
    while days == 0 or runs < days:
        now = datetime.now(zone)
        next_run = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if next_run <= now:
            next_run += timedelta(days=1)
        out.print(f"next end of day at {next_run.isoformat()}")
        wall.sleep((next_run - now).total_seconds())
        for day in eod.catch_up(p, next_run.date()):
            out.print(f"end of day {day['business_date']} done")
        runs += 1
