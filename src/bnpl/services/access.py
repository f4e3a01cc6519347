"""Need-to-know: which customers, collections cases, orders and merchants a caller may read.

One rule for every front end. The API, the console and the CLI all ask here, so an agent's API
key sees exactly what the same agent sees in the console:

- admin, system, supervisor: every customer (account, statement, credit, decisions, flags) and
  every case;
- risk analyst (console): every customer, no case;
- agent, specialist: their open cases, and the customers of those cases;
- field agent: the open cases with a visit assigned to them (approved, not yet made), and the
  customers of those cases;
- customer: themselves, no case;
- merchant: no customer (a credit line is the customer's, not the merchant's), no case.

Orders are read by admins, risk analysts, the merchant that sold them and the customer who bought
them; other roles may not read orders at all (403). Merchants are read by admins, risk analysts
and the merchant itself.

A refusal follows the platform's convention: a role that may never read a kind of thing gets
``Forbidden`` (403); a caller that may read some of them but not this one gets ``NotFound`` (404),
which does not tell them whether it exists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, false, select

from bnpl.domain.errors import Forbidden, NotFound
from bnpl.runtime import Actor, Ctx
from bnpl.store.tables import collection_cases, field_visits

SEE_ALL_CUSTOMERS = frozenset({"admin", "system", "supervisor", "risk_analyst"})
CASE_WORKERS = frozenset({"agent", "specialist"})
FIELD_AGENT = "field_agent"
# roles that work collections cases (an admin may too: ``Actor.require`` lets an admin through)
CASE_ROLES = ("agent", "specialist", "field_agent", "supervisor")
SEE_ALL_CASES = frozenset({"admin", "system", "supervisor"})
ORDER_READERS = frozenset({"admin", "system", "risk_analyst", "merchant", "customer"})
MERCHANT_READERS = frozenset({"admin", "system", "risk_analyst"})

_case = collection_cases.c
_visit = field_visits.c


def _assigned_visit_cases(agent_id: int | None) -> Select[Any]:
    """The cases on which a field agent has a visit to make (approved, not yet done)."""
    return select(_visit.case_id).where(
        _visit.status == "approved", (_visit.agent_a == agent_id) | (_visit.agent_b == agent_id)
    )


def _worked_cases(actor: Actor) -> ColumnElement[bool] | None:
    """The cases an agent, specialist or field agent works now; None for any other role."""
    if actor.role in CASE_WORKERS:
        return (_case.agent_id == actor.subject_id) & (_case.status == "open")
    if actor.role == FIELD_AGENT:
        return _case.id.in_(_assigned_visit_cases(actor.subject_id)) & (_case.status == "open")
    return None


def case_scope(actor: Actor) -> ColumnElement[bool] | None:
    """A condition on ``collection_cases`` keeping the cases ``actor`` may see (None: all)."""
    if actor.role in SEE_ALL_CASES:
        return None
    worked = _worked_cases(actor)
    return false() if worked is None else worked


def customer_scope(actor: Actor, customer_id: ColumnElement[Any]) -> ColumnElement[bool] | None:
    """A condition on a customer-id column keeping the customers ``actor`` may see (None: all), for
    queries that list customers or their records."""
    if actor.role in SEE_ALL_CUSTOMERS:
        return None
    if actor.role == "customer":
        return customer_id == actor.subject_id
    worked = _worked_cases(actor)
    if worked is None:
        return false()
    return customer_id.in_(select(_case.customer_id).where(worked))


def may_see_customer(ctx: Ctx, customer_id: int, actor: Actor | None = None) -> None:
    """Raise ``NotFound`` unless ``actor`` (the context's by default) may read this customer."""
    actor = actor or ctx.actor
    if actor.role in SEE_ALL_CUSTOMERS or (actor.role == "customer" and actor.subject_id == customer_id):
        return  # no query: a customer's own reads stay one statement shorter
    worked = _worked_cases(actor)
    if worked is not None:
        mine = ctx.conn.execute(select(_case.id).where(_case.customer_id == customer_id, worked).limit(1))
        if mine.first() is not None:
            return
    raise NotFound(f"customer {customer_id} not found")


def visible_case(ctx: Ctx, case_id: int, actor: Actor | None = None) -> Any:
    """The case row, if ``actor`` works cases and may see this one: ``Forbidden`` for a role that
    works none (customers, merchants, analysts), ``NotFound`` for a case that is not theirs."""
    actor = actor or ctx.actor
    actor.require(*CASE_ROLES)
    query = select(collection_cases).where(_case.id == case_id)
    scope = case_scope(actor)
    row = ctx.conn.execute(query if scope is None else query.where(scope)).first()
    if row is None:
        raise NotFound(f"case {case_id} not found")
    return row


def require_order_reader(actor: Actor) -> None:
    """``Forbidden`` for a role that may not read orders at all (collections staff, the provider)."""
    if actor.role not in ORDER_READERS:
        raise Forbidden(f"a {actor.role} may not read orders")


def may_see_order(actor: Actor, order: Any) -> bool:
    """Whether ``actor`` may read this order (a row mapping with merchant_id and customer_id)."""
    return (
        actor.role in ("admin", "system", "risk_analyst")
        or (actor.role == "merchant" and actor.subject_id == order["merchant_id"])
        or (actor.role == "customer" and actor.subject_id == order["customer_id"])
    )


def may_see_merchant(ctx: Ctx, merchant_id: int) -> None:
    """A merchant reads itself, admins and analysts any; nobody else reads merchants (their fees,
    caps and balances are the merchant's business)."""
    actor = ctx.actor
    if actor.role in MERCHANT_READERS or (actor.role == "merchant" and actor.subject_id == merchant_id):
        return
    if actor.role == "merchant":
        raise NotFound(f"merchant {merchant_id} not found")
    raise Forbidden(f"a {actor.role} may not read merchants")
