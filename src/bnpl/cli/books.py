"""`bnpl ledger check` and `bnpl audit verify`: the books and the audit chain, checked end to end."""

from __future__ import annotations

import typer

from bnpl.cli.app import emit, err, out, platform
from bnpl.runtime import SYSTEM

ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@ledger_app.command("check")
def ledger_check() -> None:
    """Recompute every ledger invariant; exit 1 if any fails."""
    from bnpl.services import checks

    with platform().read(SYSTEM) as c:
        result = checks.check_ledger(c)
    emit(result)
    if not result["ok"]:
        raise typer.Exit(1)


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit hash chains and name the first altered record; exit 1 if any."""
    from bnpl.services import audit

    with platform().read(SYSTEM) as c:
        checked, broken = audit.verify(c.conn)
    if broken:
        for t in broken:
            err.print(f"[red]audit record {t.record_id}[/red] (stream {t.stream}, #{t.seq}): {t.problem}")
        raise typer.Exit(1)
    out.print(f"audit log intact: {checked} records verified")
