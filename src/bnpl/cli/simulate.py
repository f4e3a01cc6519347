"""`bnpl simulate`: a season of the simulated marketplace through the real platform, and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bnpl.cli.app import CliError, out


def simulate(
    customers: Annotated[int, typer.Option(help="shoppers in the simulated marketplace")] = 10_000,
    days: Annotated[int, typer.Option(help="days in the season")] = 120,
    seed: Annotated[int, typer.Option(help="the same seed gives the same season")] = 7,
    out_dir: Annotated[
        Path, typer.Option("--out", help="folder for report.html, metrics.json and the data")
    ] = Path("var/season"),
    policy: Annotated[
        str,
        typer.Option(
            help="a policy preset (baseline, generous, cautious, no-rules, light-desk, no-feed) or YAML file"
        ),
    ] = "baseline",
    compare: Annotated[
        str | None, typer.Option(help="a second policy to run on the same world and seed, side by side")
    ] = None,
) -> None:
    """Run a season on a fresh SQLite database in --out, then write the portfolio report."""
    from bnpl.sim.policy import load_policy
    from bnpl.sim.season import prepare
    from bnpl.sim.season import simulate as run_season
    from bnpl.sim.state import SimConfig

    try:
        config = SimConfig(customers=customers, days=days, seed=seed)
        policies = [load_policy(policy)] + ([load_policy(compare)] if compare else [])
        prepare(policies, out_dir)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot write to {exc.filename or out_dir}: {exc.strerror or exc}") from None
    total = days * len(policies)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as progress:
        names = " vs ".join(p.name for p in policies)
        task = progress.add_task(f"simulating {customers:,} shoppers ({names})", total=total)
        try:
            metrics = run_season(config, policies, out_dir, on_day=lambda _day: progress.advance(task))
        except ValueError as exc:
            raise CliError(str(exc)) from None
    runs = [metrics] if not compare else [metrics[name] for name in metrics["compare"]]
    for m in runs:
        out.print(
            f"[bold]{m['run']['policy']}[/bold]: {m['checkouts']:,} pay-later checkouts, "
            f"approval {_pct(m['approval_rate'])}, conversion uplift {_pct(m['conversion_uplift'])}, "
            f"loss rate {_pct(m['loss_rate'], 2)}, model AUC {m['model_auc']} (oracle {m['oracle_auc']}), "
            f"feed-only AUC {m.get('feed_only_auc')}, "
            f"ledger {'balanced' if m['ledger_balanced'] else 'BROKEN'}, {m['run']['seconds']} s"
        )
    report = (out_dir / "report.html").resolve()
    out.print(f"Report: [link=file://{report}]{report}[/link]  (figures also in {out_dir / 'metrics.json'})")


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"
