"""The `bnpl` command line: set-up, the demo server, the order lifecycle, end of day and checks.

Every command calls the same services as the API. Bad input prints one line and exits non-zero.
"""

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
from bnpl.runtime import ADMIN, SYSTEM, Ctx, FixedClock, Platform, Settings
from bnpl.services.boot import migrate, open_platform

app = typer.Typer(
    help="bnpl — use first, pay later (先用后付) credit platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
merchant_app = typer.Typer(help="Merchants.", no_args_is_help=True)
customer_app = typer.Typer(help="Customers and credit accounts.", no_args_is_help=True)
order_app = typer.Typer(help="The order lifecycle.", no_args_is_help=True)
return_app = typer.Typer(help="Returns within the trial window.", no_args_is_help=True)
eod_app = typer.Typer(help="End of day.", no_args_is_help=True)
ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
review_app = typer.Typer(help="Orders a risk rule sent to manual review.", no_args_is_help=True)
decision_app = typer.Typer(help="Checkout decisions.", no_args_is_help=True)
rules_app = typer.Typer(help="Risk rule sets.", no_args_is_help=True)
for sub, name in (
    (db_app, "db"),
    (merchant_app, "merchant"),
    (customer_app, "customer"),
    (order_app, "order"),
    (return_app, "return"),
    (eod_app, "eod"),
    (ledger_app, "ledger"),
    (audit_app, "audit"),
    (review_app, "review"),
    (decision_app, "decision"),
    (rules_app, "rules"),
):
    app.add_typer(sub, name=name)

out = Console()
err = Console(stderr=True)
_state: dict[str, Any] = {}

DateOpt = Annotated[str | None, typer.Option("--date", help="business date YYYY-MM-DD (default: today)")]


class CliError(Exception):
    pass


def platform(day: str | None = None) -> Platform:
    if "platform" not in _state:
        settings = Settings.from_env()
        chosen = day or _state.get("date")
        clock = FixedClock(_parse_date(chosen)) if chosen else None
        _state["platform"] = open_platform(settings, clock=clock)
        migrate(_state["platform"])  # zero set-up: the schema follows the code
    p: Platform = _state["platform"]
    return p


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"not a date (YYYY-MM-DD): {text!r}") from None


def emit(value: Any) -> None:
    out.print_json(json.dumps(value, ensure_ascii=False, default=str))


def run(work: Callable[[Ctx], Any], actor: Any = ADMIN) -> Any:
    return platform().run(actor, work)


@app.callback()
def main_options(date_: DateOpt = None) -> None:
    """Options for every command."""
    if date_:
        _state["date"] = date_


# --- set-up and serving -------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema (Alembic) on BNPL_DATABASE_URL."""
    platform()  # migrates on open
    out.print(f"schema up to date on {platform().engine.url.render_as_string(hide_password=True)}")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    demo: Annotated[bool, typer.Option(help="create demo merchants and customers first")] = False,
    workers: int = 1,
) -> None:
    """Run the HTTP API (OpenAPI at /docs)."""
    from bnpl.serving import serve as run_server

    p = platform()
    if demo:
        from bnpl.demo import seed

        seed(p, out)
    out.print(f"bnpl API on http://{host}:{port}  (docs: /docs, ops console: /console)")
    if workers > 1:
        # each worker builds its own app from the environment; pass the business date along
        if _state.get("date"):
            os.environ["BNPL_BUSINESS_DATE"] = _state["date"]
        run_server("bnpl.api.asgi:app", host, port, workers)
    else:
        from bnpl.api.app import create_app

        run_server(create_app(p), host, port)


# --- parties ------------------------------------------------------------------------------


@merchant_app.command("create")
def merchant_create(
    name: str,
    mdr_bps: Annotated[int, typer.Option(help="merchant discount rate, basis points")] = 60,
    trial_days: int = 7,
    settlement_delay_days: int = 7,
    category: Annotated[list[str] | None, typer.Option(help="a category it sells (repeat)")] = None,
) -> None:
    from bnpl.services import parties

    emit(
        run(lambda c: parties.create_merchant(c, name, mdr_bps, trial_days, settlement_delay_days, category))
    )


@merchant_app.command("cap")
def merchant_cap(
    merchant_id: int,
    outstanding: Annotated[int | None, typer.Option(help="most outstanding on its orders, fen")] = None,
    default: Annotated[bool, typer.Option("--default", help="back to the policy's default")] = False,
) -> None:
    """Cap what may be outstanding on one merchant's orders."""
    from bnpl.services import parties

    if default == (outstanding is not None):
        raise CliError("give --outstanding FEN or --default")
    emit(run(lambda c: parties.set_merchant_cap(c, merchant_id, outstanding)))


@merchant_app.command("show")
def merchant_show(merchant_id: int) -> None:
    from bnpl.services import parties, settlement

    def work(c: Ctx) -> Any:
        return {
            **parties.get_merchant(c, merchant_id),
            "balances": settlement.merchant_balances(c, merchant_id),
        }

    emit(run(work))


@customer_app.command("create")
def customer_create(
    name: str,
    limit: Annotated[int, typer.Option(help="credit limit in fen")],
    phone: Annotated[str | None, typer.Option(help="mobile number (masked wherever staff read it)")] = None,
    address: Annotated[
        str | None, typer.Option(help="registered address: where a field visit may go")
    ] = None,
) -> None:
    from bnpl.services import parties

    emit(run(lambda c: parties.create_customer(c, name, limit, phone=phone, address=address)))


@customer_app.command("find")
def customer_find(
    phone: Annotated[str | None, typer.Option(help="mobile number (spaces and dashes do not matter)")] = None,
    address: Annotated[str | None, typer.Option(help="registered address (case, spacing ignored)")] = None,
) -> None:
    """The customers with this phone number and/or registered address (through their keyed hashes)."""
    from bnpl.services import parties

    emit(run(lambda c: parties.find_customers(c, phone=phone, address=address)))


@customer_app.command("contact")
def customer_contact(
    customer_id: int,
    phone: Annotated[str | None, typer.Option(help='new mobile number ("" clears it)')] = None,
    address: Annotated[str | None, typer.Option(help='new registered address ("" clears it)')] = None,
) -> None:
    """Change a customer's phone number or registered address (sealed at rest; the audit log says
    which changed, not to what)."""
    from bnpl.services import parties

    emit(run(lambda c: parties.set_contact(c, customer_id, phone=phone, address=address)))


@customer_app.command("show")
def customer_show(customer_id: int) -> None:
    from bnpl.services import parties

    emit(run(lambda c: parties.get_customer(c, customer_id)))


@customer_app.command("set")
def customer_set(
    customer_id: int,
    limit: Annotated[int | None, typer.Option(help="new credit limit in fen")] = None,
    state: Annotated[str | None, typer.Option(help="active | frozen | closed | blocked")] = None,
) -> None:
    from bnpl.services import parties

    emit(run(lambda c: parties.set_account(c, customer_id, limit, state)))


@customer_app.command("controls")
def customer_controls(
    customer_id: int,
    own_limit: Annotated[
        int | None, typer.Option(help="a spending ceiling of the customer's own, fen")
    ] = None,
    clear_own_limit: Annotated[bool, typer.Option(help="remove that ceiling")] = False,
    pause_days: Annotated[int | None, typer.Option(help="pause use first, pay later; 0 resumes")] = None,
) -> None:
    """Responsible spending: the customer's own ceiling and pause."""
    from bnpl.services import parties

    if clear_own_limit and own_limit is not None:
        raise CliError("--own-limit and --clear-own-limit exclude each other")
    own: object = None if clear_own_limit else parties.KEEP if own_limit is None else own_limit
    emit(run(lambda c: parties.set_controls(c, customer_id, own, pause_days)))


@customer_app.command("statement")
def customer_statement(customer_id: int) -> None:
    from bnpl.services import statements

    emit(run(lambda c: statements.statement(c, customer_id)))


@app.command()
def repay(customer_id: int, amount: Annotated[int, typer.Argument(help="amount in fen")]) -> None:
    """Record a repayment from a customer (allocated by the waterfall)."""
    from bnpl.services import repayments

    emit(run(lambda c: repayments.repay(c, customer_id, amount, source="cli")))


@app.command()
def refund(customer_id: int, amount: Annotated[int, typer.Argument(help="amount in fen")]) -> None:
    """Pay (part of) a customer's credit balance (overpayments, refunded returns) back out to them."""
    from bnpl.services import repayments

    emit(run(lambda c: repayments.refund_credit_balance(c, customer_id, amount)))


@app.command("reverse-payment")
def reverse_payment(
    payment_id: int, reason: Annotated[str, typer.Option(help="why (bounced, chargeback)")]
) -> None:
    """Undo a payment with a reversing entry; what it paid is due again (and what it left as credit
    balance, if already refunded or spent, is owed again as a chargeback)."""
    from bnpl.services import repayments

    emit(run(lambda c: repayments.reverse_payment(c, payment_id, reason)))


# --- risk ---------------------------------------------------------------------------------


@review_app.command("list")
def review_list() -> None:
    """Orders waiting for an analyst, oldest first."""
    from bnpl.services import orders

    emit(
        [
            {
                "order_id": o["id"],
                "customer_id": o["customer_id"],
                "amount": o["amount"],
                "reasons": [r["code"] for r in o["decision"]["reasons"]],
                "expires_on": o["expires_on"],
            }
            for o in run(orders.list_reviews)
        ]
    )


@review_app.command("approve")
def review_approve(
    order_id: int, note: Annotated[str, typer.Option(help="why (kept in the audit log)")]
) -> None:
    from bnpl.services import orders

    emit(run(lambda c: orders.decide_review(c, order_id, True, note)))


@review_app.command("decline")
def review_decline(
    order_id: int, note: Annotated[str, typer.Option(help="why (kept in the audit log)")]
) -> None:
    from bnpl.services import orders

    emit(run(lambda c: orders.decide_review(c, order_id, False, note)))


@decision_app.command("explain")
def decision_explain(decision_id: int, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """A stored decision in plain language: outcome, reasons, rules (live and shadow), versions."""
    from bnpl.services import explain

    view = run(lambda c: explain.get_decision(c, decision_id))
    if json_out:
        emit(view)
    else:
        out.print(explain.explain(view), markup=False, highlight=False)


@rules_app.command("stats")
def rules_stats(
    since: Annotated[str | None, typer.Option(help="decisions from this date, YYYY-MM-DD")] = None,
) -> None:
    """Hits per rule (live and shadow) and outcomes, per rule-set version."""
    from bnpl.services import rule_stats

    day = _parse_date(since) if since else None
    with platform().read(ADMIN) as c:
        emit(rule_stats.rule_stats(c, day))


# --- end of day and checks ----------------------------------------------------------------


@eod_app.command("run")
def eod_run(
    date_: DateOpt = None,
    catch_up: Annotated[
        bool, typer.Option("--catch-up", help="run every date since the last end of day, through --date")
    ] = False,
) -> None:
    """Run end of day for a business date: expire authorizations, assume deliveries, settle
    merchants, age accounts, charge capped late fees, freeze/unfreeze, charge off, work cases,
    promises and the dunning strategy, accrue funding cost. Safe to re-run and to resume."""
    from bnpl.collections import eod

    if date_:
        _state["date"] = date_
    p = platform()
    if catch_up:
        if not isinstance(p.clock, FixedClock):
            p.clock = FixedClock(p.clock.today())
        emit([{k: day[k] for k in ("business_date", "steps")} for day in eod.catch_up(p, p.clock.today())])
    else:
        emit(eod.run_eod(p))


@eod_app.command("schedule")
def eod_schedule(
    at: Annotated[str, typer.Option(help="local time HH:MM in the platform's time zone")] = "23:30",
    days: Annotated[int, typer.Option(help="stop after this many runs (0: never)")] = 0,
) -> None:
    """Run end of day every day at a set time (a scheduler in the foreground; Ctrl-C stops it).
    Each run covers every business date missed since the last one."""
    import time as wall
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from bnpl.collections import eod

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
        business = next_run.date()
        p.clock = FixedClock(business)
        for day in eod.catch_up(p, business):
            out.print(f"end of day {day['business_date']} done")
        runs += 1


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


# the credit commands live beside this module and use its helpers
from bnpl.cli_collections import collections_app, compliance_app  # noqa: E402
from bnpl.cli_credit import limit_app, model_app  # noqa: E402
from bnpl.cli_risk import risk_app  # noqa: E402

app.add_typer(model_app, name="model")
app.add_typer(limit_app, name="limit")
app.add_typer(risk_app, name="risk")
app.add_typer(collections_app, name="collections")
app.add_typer(compliance_app, name="compliance")
import bnpl.cli_console  # noqa: E402  (registers `bnpl staff`)
import bnpl.cli_keys  # noqa: E402  (registers `bnpl data-keys`)
import bnpl.cli_orders  # noqa: E402  (registers `bnpl order …` and `bnpl return …`)
import bnpl.cli_sim  # noqa: E402, F401  (registers `bnpl simulate`)
