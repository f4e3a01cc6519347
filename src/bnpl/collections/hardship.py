"""Hardship plans and discounted settlements: proposed by an agent, decided by a supervisor.

A hardship plan restructures everything the customer owes into monthly instalments starting a
month from approval (fees, late fees included, carried or waived), order by order, so the ledger
still reads per order. A settlement accepts less than is owed: once the customer's payments since
approval reach the agreed amount, end of day forgives the rest (principal to credit loss, fees back
out of the income they were booked to) and the case closes.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, insert, select

from bnpl.domain import postings
from bnpl.domain.errors import Forbidden, InvalidInput, InvalidState, NotFound
from bnpl.domain.plans import MIN_INSTALMENT, Plan, build_schedule
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.services.access import visible_case
from bnpl.services.credit_lines import change_account, lock_account
from bnpl.services.ledger import post
from bnpl.services.orders import open_obligations
from bnpl.services.queries import owed_by_customer
from bnpl.services.repayments import paid_between
from bnpl.store.tables import hardship_plans, obligations, orders

KINDS = ("plan", "settlement")
obligation = obligations.c


def propose(
    ctx: Ctx,
    case_id: int,
    kind: str,
    note: str,
    instalments: int = 1,
    waive_fees: bool = False,
    settle_amount: int | None = None,
) -> dict[str, Any]:
    ctx.actor.require("agent", "specialist", "supervisor")
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
    case = visible_case(ctx, case_id)  # an agent proposes only on their own cases
    if case.status != "open":
        raise InvalidState(f"case {case_id} is closed")
    if not note.strip():
        raise InvalidInput("say why (the customer's situation, what was agreed)")
    owed = owed_by_customer(ctx, case.customer_id)
    if kind == "plan" and not 2 <= instalments <= 24:
        raise InvalidInput("a hardship plan has 2 to 24 monthly instalments")
    if kind == "settlement":
        if settle_amount is None or not 0 < settle_amount < owed:
            raise InvalidInput(f"a settlement amount is more than 0 and less than what is owed ({owed} fen)")
        instalments, waive_fees = 1, True
    plan_id = ctx.conn.execute(
        insert(hardship_plans)
        .values(
            case_id=case_id,
            customer_id=case.customer_id,
            kind=kind,
            instalments=instalments,
            waive_fees=int(waive_fees),
            settle_amount=settle_amount if kind == "settlement" else None,
            status="proposed",
            proposed_by=str(ctx.actor),
            proposed_on=ctx.today,
            note=note.strip(),
        )
        .returning(hardship_plans.c.id)
    ).scalar_one()
    audit.record(
        ctx, f"customer:{case.customer_id}", f"{kind}.proposed", "plan", plan_id, None, {"owed": owed}
    )
    return get_hardship_plan(ctx, plan_id)


def get_hardship_plan(ctx: Ctx, plan_id: int) -> dict[str, Any]:
    row = ctx.conn.execute(select(hardship_plans).where(hardship_plans.c.id == plan_id)).first()
    if row is None:
        raise NotFound(f"plan {plan_id} not found")
    return {
        "id": row.id,
        "case_id": row.case_id,
        "customer_id": row.customer_id,
        "kind": row.kind,
        "instalments": row.instalments,
        "waive_fees": bool(row.waive_fees),
        "settle_amount": row.settle_amount,
        "status": row.status,
        "proposed_by": row.proposed_by,
        "decided_by": row.decided_by,
        "note": row.note,
        "result": row.result,
    }


def decide(ctx: Ctx, plan_id: int, approve: bool, note: str) -> dict[str, Any]:
    """A supervisor approves (a plan is applied at once; a settlement waits for the money) or rejects."""
    ctx.actor.require("supervisor")
    plan = ctx.conn.execute(select(hardship_plans).where(hardship_plans.c.id == plan_id)).first()
    if plan is None:
        raise NotFound(f"plan {plan_id} not found")
    lock_account(ctx, plan.customer_id)  # first lock, as in every money-moving use case
    if plan.status != "proposed":
        raise InvalidState(f"plan {plan_id} is {plan.status}")
    if not note.strip():
        raise InvalidInput("say why")
    if approve and ctx.actor.role != "admin" and plan.proposed_by == str(ctx.actor):
        # four eyes: whoever forgives or restructures a debt did not also propose it
        raise Forbidden("another supervisor approves a plan you proposed")
    status, result = "rejected", None
    if approve:
        status = "approved"
        if plan.kind == "plan":
            result = _restructure(ctx, plan.customer_id, plan.instalments, bool(plan.waive_fees), plan_id)
            status = "done"
    ctx.conn.execute(
        hardship_plans.update()
        .where(hardship_plans.c.id == plan_id)
        .values(status=status, decided_by=str(ctx.actor), decided_on=ctx.today, result=result)
    )
    audit.record(
        ctx,
        f"customer:{plan.customer_id}",
        f"{plan.kind}.{status}",
        "plan",
        plan_id,
        {"status": "proposed"},
        {"status": status, "note": note.strip(), "result": result},
    )
    return get_hardship_plan(ctx, plan_id)


def _open_by_order(ctx: Ctx, customer_id: int) -> dict[int, list[Any]]:
    by_order: dict[int, list[Any]] = defaultdict(list)
    for o in ctx.conn.execute(
        select(obligations)
        .where(obligation.customer_id == customer_id, obligation.status == "open")
        .order_by(obligation.id)
    ):
        by_order[o.order_id].append(o)
    return by_order


def _forgive_fees(ctx: Ctx, customer_id: int, rows: list[Any], memo: str) -> int:
    waived = [
        postings.WriteOff(customer_id, o.order_id, o.id, 0, o.fee - o.fee_paid, o.kind)
        for o in rows
        if o.fee > o.fee_paid
    ]
    if waived:
        post(ctx, postings.forgiveness(ctx.today, waived, memo))
        ctx.conn.execute(
            obligations.update().where(obligation.id == bindparam("oid")).values(fee=obligation.fee_paid),
            [{"oid": w.obligation_id} for w in waived],
        )
    return sum(w.fee for w in waived)


def _restructure(
    ctx: Ctx, customer_id: int, instalments: int, waive_fees: bool, plan_id: int
) -> dict[str, Any]:
    by_order = _open_by_order(ctx, customer_id)
    if not by_order:
        raise InvalidState("nothing is owed: there is nothing to restructure")
    waived = 0
    if waive_fees:
        waived = _forgive_fees(
            ctx, customer_id, [o for rows in by_order.values() for o in rows], f"plan {plan_id}"
        )
        by_order = _open_by_order(ctx, customer_id)
    merchants = dict(
        ctx.conn.execute(
            select(orders.c.id, orders.c.merchant_id).where(orders.c.id.in_(list(by_order)))
        ).all()
    )
    moved = 0
    for order_id, rows in sorted(by_order.items()):
        principal = sum(o.principal - o.principal_paid for o in rows)
        fee = sum(o.fee - o.fee_paid for o in rows)
        if principal + fee == 0:
            continue
        n = max(1, min(instalments, (principal + fee) // MIN_INSTALMENT))
        hardship = Plan(f"hardship{n}", n, 1, 30, Decimal(0), "Hardship plan", "困难还款计划")
        schedule = build_schedule(hardship, principal, ctx.today, fee=fee)
        next_seq = int(
            ctx.conn.execute(
                select(func.max(obligation.seq)).where(obligation.order_id == order_id)
            ).scalar_one()
            or 0
        )
        ctx.conn.execute(
            obligations.update()
            .where(obligation.id == bindparam("oid"))
            .values(principal=obligation.principal_paid, fee=obligation.fee_paid, status="converted"),
            [{"oid": o.id} for o in rows],
        )
        ids = open_obligations(ctx, order_id, customer_id, schedule, first_seq=next_seq + 1)
        ref = postings.OrderRef(customer_id, merchants[order_id], order_id)
        closed = [
            postings.ObligationAmounts(o.id, o.principal - o.principal_paid, o.fee - o.fee_paid)
            for o in rows
            if o.principal + o.fee > o.principal_paid + o.fee_paid
        ]
        opened = [
            postings.ObligationAmounts(i, s.principal, s.fee) for i, s in zip(ids, schedule, strict=True)
        ]
        post(ctx, postings.plan_conversion(ctx.today, ref, closed, opened))
        moved += principal + fee
    return {"restructured": moved, "fees_waived": waived, "instalments": instalments}


def complete_settlements(ctx: Ctx) -> dict[str, int]:
    """Approved settlements whose money has come in: forgive the rest and close the obligations."""
    h = hardship_plans.c
    done = 0
    for plan in ctx.conn.execute(
        select(hardship_plans).where(h.kind == "settlement", h.status == "approved").order_by(h.id)
    ).all():
        paid = paid_between(ctx, plan.customer_id, plan.decided_on)
        if paid < plan.settle_amount:
            continue
        lock_account(ctx, plan.customer_id)
        rows = [o for rows in _open_by_order(ctx, plan.customer_id).values() for o in rows]
        write_offs = [
            postings.WriteOff(
                plan.customer_id, o.order_id, o.id, o.principal - o.principal_paid, o.fee - o.fee_paid, o.kind
            )
            for o in rows
        ]
        forgiven = [w for w in write_offs if w.principal or w.fee]
        if forgiven:
            post(ctx, postings.forgiveness(ctx.today, forgiven, f"settlement {plan.id}"))
        if rows:
            ctx.conn.execute(
                obligations.update()
                .where(obligation.id.in_([o.id for o in rows]))
                .values(principal=obligation.principal_paid, fee=obligation.fee_paid, status="settled")
            )
        principal = sum(w.principal for w in forgiven)
        change_account(ctx, plan.customer_id, outstanding=-principal)
        result = {"paid": paid, "forgiven": sum(w.principal + w.fee for w in forgiven)}
        ctx.conn.execute(hardship_plans.update().where(h.id == plan.id).values(status="done", result=result))
        audit.record(ctx, f"customer:{plan.customer_id}", "settlement.done", "plan", plan.id, None, result)
        done += 1
    return {"settlements_done": done}
