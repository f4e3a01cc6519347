"""`bnpl collections …` and `bnpl compliance report`: agents, queues, contacts through the contact
policy, promises, hardship plans and settlements, field visits, and the compliance report."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any

import typer

from bnpl.cli.app import CliError, emit, run

collections_app = typer.Typer(
    help="Collections: agents, cases, contacts, promises, plans, visits.", no_args_is_help=True
)
agent_app = typer.Typer(
    help="Collection agents, field agents, specialists and supervisors.", no_args_is_help=True
)
flag_app = typer.Typer(help="Cease-contact requests, disputes and vulnerability flags.", no_args_is_help=True)
plan_app = typer.Typer(help="Hardship plans and discounted settlements.", no_args_is_help=True)
visit_app = typer.Typer(help="Field visits (上门走访): request, approve, record.", no_args_is_help=True)
compliance_app = typer.Typer(help="Compliance of collections contacts.", no_args_is_help=True)
collections_app.add_typer(agent_app, name="agent")
collections_app.add_typer(flag_app, name="flag")
collections_app.add_typer(plan_app, name="plan")
collections_app.add_typer(visit_app, name="visit")

AgentOpt = Annotated[int, typer.Option("--agent", help="the agent acting (id)")]


def _run(work: Any) -> None:

    emit(run(work))


def _day(text: str, what: str) -> date:

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"{what} is not a date (YYYY-MM-DD): {text!r}") from None


@agent_app.command("create")
def agent_create(
    name: str,
    role: Annotated[str, typer.Option(help="agent | specialist | field_agent | supervisor")] = "agent",
    skill: Annotated[
        list[str] | None, typer.Option(help="a bucket worked (M1, M2, M3, M3+); repeat; none: all")
    ] = None,
) -> None:
    """Add a member of the collections team; prints their API key once."""
    from bnpl.collections import cases
    from bnpl.services.apikeys import issue_key

    def work(c: Any) -> dict[str, Any]:
        agent = cases.create_agent(c, name, role, skill or [])
        return {**agent, "api_key": issue_key(c, role, agent["id"])}

    _run(work)


@agent_app.command("list")
def agent_list() -> None:
    """Every agent with their open cases."""
    from bnpl.collections import cases

    _run(cases.list_agents)


@collections_app.command("queue")
def queue(
    agent: Annotated[int | None, typer.Option("--agent", help="the agent; omit for unassigned cases")] = None,
    limit: Annotated[int, typer.Option(help="at most this many (1-1000)")] = 50,
) -> None:
    """Open cases in an agent's queue, worst first, with today's tasks."""
    from bnpl.collections import work

    if not 1 <= limit <= 1000:
        raise CliError("--limit must be 1-1000")
    _run(lambda c: work.queue(c, agent, limit))


@collections_app.command("case")
def case_show(case_id: int) -> None:
    """One case: customer (masked), flags, contacts, promises, plans and visits."""
    from bnpl.collections import work

    _run(lambda c: work.case_view(c, case_id))


@collections_app.command("check")
def contact_check(case_id: int, agent: AgentOpt, template: str) -> None:
    """Would this contact be allowed now? Nothing is recorded."""
    from bnpl.collections import contacts

    _run(lambda c: contacts.check(c, case_id, agent, template))


@collections_app.command("contact")
def contact(
    case_id: int,
    agent: AgentOpt,
    template: Annotated[str, typer.Option(help="message or call script, e.g. collect_call, locate_call")],
    outcome: Annotated[
        str, typer.Option(help="reached | no_answer | left_message | wrong_number | refused | sent")
    ],
    note: str = "",
) -> None:
    """Log a contact: the contact policy runs first; a blocked one is recorded with its rule."""
    from bnpl.collections import contacts

    _run(lambda c: contacts.contact(c, case_id, agent, template, outcome, note))


@collections_app.command("promise")
def promise(
    case_id: int,
    amount: Annotated[int, typer.Option(help="fen")],
    by: Annotated[str, typer.Option("--by", help="the date promised, YYYY-MM-DD")],
    agent: Annotated[int | None, typer.Option("--agent")] = None,
) -> None:
    """Record a promise to pay; end of day marks it kept or broken from the payments."""
    from bnpl.collections import work

    due = _day(by, "--by")
    _run(lambda c: work.promise(c, case_id, amount, due, agent))


@collections_app.command("reassign")
def reassign(case_id: int, agent: AgentOpt, note: str = "") -> None:
    """Supervisor: move a case to another agent."""
    from bnpl.collections import work

    _run(lambda c: work.reassign(c, case_id, agent, note))


@collections_app.command("note")
def note(record: Annotated[str, typer.Argument(help="contact | visit")], record_id: int, text: str) -> None:
    """Annotate a contact or a visit (records are never edited)."""
    from bnpl.collections import contacts

    _run(lambda c: contacts.annotate(c, record, record_id, text))


@flag_app.command("set")
def flag_set(
    customer_id: int,
    kind: Annotated[str, typer.Argument(help="cease_contact | dispute | hardship | bereavement | illness")],
    note: Annotated[str, typer.Option(help="why; kept with the flag")],
    order: Annotated[int | None, typer.Option("--order", help="a dispute about one order")] = None,
) -> None:
    from bnpl.collections import contacts

    _run(lambda c: contacts.set_flag(c, customer_id, kind, note, order))


@flag_app.command("clear")
def flag_clear(flag_id: int, note: Annotated[str, typer.Option(help="why")]) -> None:
    from bnpl.collections import contacts

    _run(lambda c: contacts.clear_flag(c, flag_id, note))


@plan_app.command("propose")
def plan_propose(
    case_id: int,
    note: Annotated[str, typer.Option(help="the customer's situation and what was agreed")],
    instalments: Annotated[int, typer.Option(help="hardship plan: 2-24 monthly instalments")] = 6,
    waive_fees: Annotated[bool, typer.Option(help="waive unpaid fees and late fees")] = False,
    settle: Annotated[
        int | None, typer.Option(help="a discounted settlement of this many fen instead")
    ] = None,
) -> None:
    from bnpl.collections import hardship

    kind = "settlement" if settle is not None else "plan"
    _run(lambda c: hardship.propose(c, case_id, kind, note, instalments, waive_fees, settle))


@plan_app.command("approve")
def plan_approve(plan_id: int, note: Annotated[str, typer.Option(help="why")]) -> None:
    """Supervisor: approve (a plan restructures at once; a settlement waits for the money)."""
    from bnpl.collections import hardship

    _run(lambda c: hardship.decide(c, plan_id, True, note))


@plan_app.command("reject")
def plan_reject(plan_id: int, note: Annotated[str, typer.Option(help="why")]) -> None:
    from bnpl.collections import hardship

    _run(lambda c: hardship.decide(c, plan_id, False, note))


@visit_app.command("request")
def visit_request(
    case_id: int, agent: AgentOpt, reason: Annotated[str, typer.Option(help="why a visit")]
) -> None:
    from bnpl.collections import visits

    _run(lambda c: visits.request_visit(c, case_id, agent, reason))


@visit_app.command("approve")
def visit_approve(
    visit_id: int,
    supervisor: Annotated[int, typer.Option("--supervisor")],
    agents: Annotated[tuple[int, int], typer.Option("--agents", help="the two field agents")],
    slot: Annotated[str, typer.Option(help="YYYY-MM-DDTHH:MM, the customer's local time")],
) -> None:
    from bnpl.collections import visits

    try:
        when = datetime.fromisoformat(slot)
    except ValueError:
        raise CliError(f"--slot is not a date and time (YYYY-MM-DDTHH:MM): {slot!r}") from None
    _run(lambda c: visits.approve_visit(c, visit_id, supervisor, agents[0], agents[1], when))


@visit_app.command("decline")
def visit_decline(
    visit_id: int,
    supervisor: Annotated[int, typer.Option("--supervisor")],
    reason: Annotated[str, typer.Option()],
) -> None:
    """Supervisor: reject a request or cancel an approved visit."""
    from bnpl.collections import visits

    _run(lambda c: visits.decline_visit(c, visit_id, supervisor, reason))


@visit_app.command("outcome")
def visit_outcome(
    visit_id: int,
    agent: AgentOpt,
    outcome: Annotated[str, typer.Option(help="met | not_home | promise | dispute | refused")],
    checklist: Annotated[
        str, typer.Option(help='conduct answers as JSON, e.g. {"consent_to_enter": true, ...}')
    ],
    note: str = "",
    promise_amount: Annotated[int | None, typer.Option(help="fen, with --outcome promise")] = None,
    promise_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD, with --outcome promise")] = None,
) -> None:
    from bnpl.collections import visits

    try:
        answers = json.loads(checklist)
    except json.JSONDecodeError:
        raise CliError("--checklist is not JSON") from None
    if not isinstance(answers, dict):
        raise CliError("--checklist is a JSON object of conduct item -> true/false")
    due = _day(promise_date, "--promise-date") if promise_date else None
    _run(lambda c: visits.record_outcome(c, visit_id, agent, outcome, answers, note, promise_amount, due))


@visit_app.command("list")
def visit_list(agent: AgentOpt) -> None:
    """A field agent's scheduled visits."""
    from bnpl.collections import visits

    _run(lambda c: visits.visits_for(c, agent))


@compliance_app.command("report")
def compliance_report(
    from_: Annotated[str, typer.Option("--from", help="first business date, YYYY-MM-DD")],
    to: Annotated[str, typer.Option("--to", help="last business date, YYYY-MM-DD")],
) -> None:
    """Contacts made and blocked (by rule), visits and conduct, and the re-check of every contact
    made against the contact policy; exit 1 if any broke a rule."""
    from bnpl.collections import compliance

    result = run(lambda c: compliance.report(c, _day(from_, "--from"), _day(to, "--to")))
    emit(result)
    if not result["proof"]["ok"]:
        raise typer.Exit(1)
