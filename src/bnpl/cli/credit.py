"""`bnpl model …` and `bnpl limit …`: the model-risk workflow and the limit review, on the command line.

train → evaluate → report → promote (champion or shadow) → rescore the population → review limits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from bnpl.cli.app import CliError, emit, err, out, platform

model_app = typer.Typer(
    help="Credit models: train, evaluate, report, promote, rescore.", no_args_is_help=True
)
limit_app = typer.Typer(help="Credit limits.", no_args_is_help=True)

DatasetOpt = Annotated[
    str | None,
    typer.Option(
        "--dataset", help="german | synthetic (packaged) | platform (this database's matured orders)"
    ),
]
CsvOpt = Annotated[Path | None, typer.Option("--csv", help="any applicant table, one row per applicant")]
TargetOpt = Annotated[str | None, typer.Option("--target", help="with --csv: the outcome column")]
BadOpt = Annotated[str | None, typer.Option("--bad", help="with --csv: the outcome value that marks a bad")]
RowsOpt = Annotated[
    int | None, typer.Option("--rows", help="with --dataset synthetic: rows to draw (100 to 2,000,000)")
]


def _source(
    dataset: str | None, csv: Path | None, target: str | None, bad: str | None, rows: int | None = None
) -> dict[str, Any]:
    if rows is not None and dataset != "synthetic":
        raise CliError("--rows only applies to --dataset synthetic")
    if rows is not None and not 100 <= rows <= 2_000_000:
        raise CliError("--rows must be between 100 and 2,000,000")
    if dataset is not None and (target is not None or bad is not None):
        raise CliError("--target and --bad go with --csv, not --dataset")
    if rows is not None:
        return {"dataset": "synthetic", "rows": rows}
    if (dataset is None) == (csv is None):
        raise CliError("give either --dataset NAME or --csv FILE --target COLUMN --bad VALUE")
    if csv is not None:
        if target is None or bad is None:
            raise CliError("--csv needs --target COLUMN and --bad VALUE")
        return {"csv": str(csv.resolve()), "target": target, "bad": bad}
    if dataset == "platform":
        from bnpl.credit.platform_data import BAD_DPD

        with platform().read() as c:
            return {"dataset": "platform", "as_of": c.now.isoformat(), "bad_dpd": BAD_DPD}
    return {"dataset": dataset}


def _load(source: dict[str, Any]) -> Any:
    from bnpl.credit.dataset import DatasetError
    from bnpl.credit.sources import from_source

    try:
        with platform().read() as c:
            return from_source(source, c.conn)
    except DatasetError as exc:
        raise CliError(str(exc)) from None


@model_app.command("evaluate")
def model_evaluate(
    dataset: DatasetOpt = None,
    csv: CsvOpt = None,
    target: TargetOpt = None,
    bad: BadOpt = None,
    rows: RowsOpt = None,
    folds: Annotated[int, typer.Option(help="2 to 20")] = 5,
    repeats: Annotated[int, typer.Option(help="1 to 20")] = 3,
    seed: int = 42,
) -> None:
    """Cross-validate champion (scorecard), challenger (LightGBM) and the plain optbinning baseline
    on the same folds, and name the model the selection rule recommends; the last line is one JSON
    object with AUC, KS, Brier and per-fold AUCs of each, and ``recommended``."""
    from bnpl.credit.evaluate import cross_validate
    from bnpl.credit.selection import recommend

    if not (2 <= folds <= 20 and 1 <= repeats <= 20):
        raise CliError("--folds must be 2 to 20 and --repeats 1 to 20")
    ds = _load(_source(dataset, csv, target, bad, rows))
    if min(int(ds.bad.sum()), int(len(ds.bad) - ds.bad.sum())) < folds:
        raise CliError(f"{folds} folds need at least {folds} bad and {folds} good rows")
    with Progress(console=out, transient=True) as progress:
        task = progress.add_task(f"{ds.name}: {folds}-fold CV × {repeats}", total=folds * repeats)
        result = cross_validate(
            ds, n_splits=folds, n_repeats=repeats, seed=seed, on_fold=lambda: progress.advance(task)
        )
    table = Table(title=f"{ds.name}: {len(ds.bad)} rows, bad rate {ds.bad_rate:.1%}")
    for column in ("model", "AUC", "± sd", "KS", "Brier"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, m in result.items():
        table.add_row(name, f"{m['auc']:.4f}", f"{m['auc_std']:.4f}", f"{m['ks']:.4f}", f"{m['brier']:.4f}")
    out.print(table)
    pick = recommend(result)
    out.print(f"recommended: {pick.name}: {pick.reason}", soft_wrap=True, highlight=False)
    print(json.dumps({**result, "recommended": pick.as_json()}))


@model_app.command("train")
def model_train(
    dataset: DatasetOpt = None,
    csv: CsvOpt = None,
    target: TargetOpt = None,
    bad: BadOpt = None,
    rows: RowsOpt = None,
    kind: Annotated[
        list[str] | None, typer.Option(help="scorecard | lightgbm (repeat); default both")
    ] = None,
) -> None:
    """Train models on a table and register each as a candidate, with its CV metrics."""
    from bnpl.services import model_registry

    source = _source(dataset, csv, target, bad, rows)
    ds = _load(source)
    kinds = tuple(kind or ("scorecard", "lightgbm"))
    bad_kinds = [k for k in kinds if k not in model_registry.learners()]
    if bad_kinds:
        raise CliError(f"unknown model kind {bad_kinds[0]!r}; known: scorecard, lightgbm")
    with out.status(f"training {', '.join(kinds)} on {ds.name} ({len(ds.bad)} rows)"):
        entries = model_registry.train(platform(), ds, source, kinds)
    emit([{k: v for k, v in e.items() if k != "features"} for e in entries])


@model_app.command("list")
def model_list() -> None:
    """Every registered model with its role and metrics."""
    from bnpl.services import queries

    with platform().read() as c:
        emit(queries.registered_models(c))


@model_app.command("show")
def model_show(version: str) -> None:
    from bnpl.services import queries

    with platform().read() as c:
        emit(queries.registered_model(c, version))


@model_app.command("promote")
def model_promote(
    version: Annotated[str | None, typer.Argument(help="the model to promote (or --best)")] = None,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="score beside the champion, decide nothing")
    ] = False,
    retire: Annotated[bool, typer.Option("--retire", help="stop scoring with it")] = False,
    best: Annotated[
        bool,
        typer.Option(
            "--best",
            help="make champion the model the selection rule recommends among those trained on the "
            "newest training table (see docs/credit.md)",
        ),
    ] = False,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="with --best: only models trained on this table")
    ] = None,
) -> None:
    """Make a model the champion that scores every checkout (the previous one retires)."""
    from bnpl.services import model_registry

    if shadow and retire:
        raise CliError("--shadow and --retire exclude each other")
    if best:
        if version is not None or shadow or retire:
            raise CliError("--best chooses the model and makes it champion: no VERSION, --shadow or --retire")
        result = model_registry.promote_best(platform(), dataset)
        done = "promoted" if result["changed"] else "kept"
        # the sentence for a person on stderr; stdout stays one JSON document, as for any promote
        said = f"{done} {result['promoted']} as champion: {result['reason']}"
        err.print(said, soft_wrap=True, markup=False, highlight=False)
        emit(result)
        return
    if dataset is not None:
        raise CliError("--dataset goes with --best")
    if version is None:
        raise CliError("give a VERSION to promote, or --best")
    emit(
        model_registry.set_role(
            platform(), version, "shadow" if shadow else "retired" if retire else "champion"
        )
    )


@model_app.command("report")
def model_report(
    version: str,
    out_path: Annotated[Path, typer.Option("--out", help="the HTML file to write")] = Path(
        "model-report.html"
    ),
    recent: Annotated[Path | None, typer.Option(help="a CSV of a recent population, for PSI")] = None,
) -> None:
    """Write an HTML validation report: ROC and KS, calibration, score distributions, bin tables
    with WoE and IV, PSI between the training and a recent population."""
    from bnpl.services import credit_report

    p = platform()
    with out.status(f"validating {version}"):
        path = credit_report.write(p, version, out_path, recent)
    out.print(f"report written to {path}")


@model_app.command("rescore")
def model_rescore() -> None:
    """Recompute every customer's features now and score them with the champion."""
    from bnpl.services import credit, queries

    p = platform()
    with p.read() as c:
        total = queries.customer_count(c)
        champion, _ = queries.scoring_models(c)
    if champion is None:
        out.print("no champion model: features are stored without a score")
    with Progress(console=out, transient=True) as progress:
        task = progress.add_task("rescoring customers", total=total)
        summary = credit.rescore(p, on_chunk=lambda n: progress.advance(task, n))
    emit(summary)


@limit_app.command("review")
def limit_review() -> None:
    """Raise clean payers' limits and cut deteriorated ones, from the latest rescoring."""
    from bnpl.services import credit

    emit(credit.review_limits(platform()))
