"""Random sequences of lifecycle operations; after every step the ledger invariants hold.

Refused operations (wrong state, too large a return, ...) must change nothing. Runs on SQLite,
and on PostgreSQL when BNPL_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select

from bnpl.domain.errors import DomainError
from bnpl.domain.orders import Item
from bnpl.eod import run_eod
from bnpl.runtime import ADMIN, SYSTEM, Actor, FixedClock, Platform, Settings
from bnpl.services import audit, checks, orders, parties, repayments
from bnpl.services.boot import open_platform
from bnpl.store.db import make_engine
from bnpl.store.migrate import upgrade
from bnpl.store.tables import journal_entries, order_items, payments, returns
from tests.conftest import PG_URL, START, truncate

_template: dict[str, Path] = {}


def sqlite_platform() -> Platform:
    if "path" not in _template:
        path = Path(tempfile.mkdtemp()) / "template.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()
        _template["path"] = path
    target = Path(tempfile.mkdtemp()) / "bnpl.db"
    shutil.copy(_template["path"], target)
    return open_platform(
        Settings(database_url=f"sqlite:///{target}", allow_forward_dates=True), clock=FixedClock(START)
    )


# next_days jumps the clock over days it does not close: the platform allows forward dates, as an
# operator may (BNPL_ALLOW_FORWARD_DATES)
def one_of_batch(results: list[Any]) -> Any:
    """The batched path's answer for a batch of one, raised as the single path raises a refusal."""
    (result,) = results
    if isinstance(result, DomainError):
        raise result
    return result


class Lifecycle(RuleBasedStateMachine):
    backend = "sqlite"
    pg_engine: Any = None
    batched = False  # authorize and capture through the batched path (services/orders/batch.py)

    def __init__(self) -> None:
        super().__init__()
        if self.backend == "sqlite":
            self.platform = sqlite_platform()
        else:
            truncate(self.pg_engine)
            self.platform = open_platform(
                Settings(allow_forward_dates=True), clock=FixedClock(START), engine=self.pg_engine
            )
        p = self.platform
        self.merchant_id = p.run(ADMIN, lambda c: parties.create_merchant(c, "M", 150, 7, 2, ["tea"]))["id"]
        self.customers = [
            p.run(ADMIN, lambda c: parties.create_customer(c, "C", 2000_00))["id"] for _ in range(2)
        ]
        self.orders: list[int] = []
        self.refused = 0

    def teardown(self) -> None:
        with self.platform.read() as c:
            _, broken = audit.verify(c.conn)
        assert not broken
        if self.backend == "sqlite":
            self.platform.dispose()

    # --- helpers ---
    def entries(self) -> int:
        with self.platform.read() as c:
            return int(c.conn.execute(select(func.count()).select_from(journal_entries)).scalar_one())

    def attempt(self, actor: Actor, work: Any) -> Any:
        before = self.entries()
        try:
            return self.platform.run(actor, work)
        except DomainError:
            self.refused += 1
            assert self.entries() == before, "a refused operation changed the ledger"
            return None

    def order_owner(self, order_id: int) -> Actor:
        with self.platform.read() as c:
            return Actor("customer", orders.get_order(c, order_id)["customer_id"])

    # --- rules ---
    @rule(
        who=st.integers(0, 1),
        price=st.integers(1, 900_00),
        qty=st.integers(1, 3),
        plan=st.sampled_from(["pay_after_trial", "pay_after_trial", "m3", "m6", "m12"]),
        payer=st.sampled_from(["customer", "customer", "merchant"]),
    )
    def authorize(self, who: int, price: int, qty: int, plan: str, payer: str) -> None:
        cmd = orders.AuthorizeCommand(
            self.merchant_id,
            self.customers[who],
            [Item("a", "tea", price, qty), Item("b", "tea", 5_00, 1)],
            plan,
            fee_payer=payer,
        )
        if self.batched:  # the same checkout twice in one batch: the second sees the first's hold
            results = self.attempt(
                Actor("merchant", self.merchant_id), lambda c: orders.authorize_many(c, [cmd, cmd])
            )
            for r in results or []:
                if isinstance(r, dict):
                    self.orders.append(r["id"])
            return
        result = self.attempt(Actor("merchant", self.merchant_id), lambda c: orders.authorize(c, cmd))
        if result:
            self.orders.append(result["id"])

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), action=st.sampled_from(["capture", "capture", "deliver", "cancel"]))
    def move(self, data: st.DataObject, action: str) -> None:
        oid = data.draw(st.sampled_from(self.orders))
        actor = Actor("merchant", self.merchant_id)
        if self.batched and action == "capture":
            self.attempt(actor, lambda c: one_of_batch(orders.capture_many(c, [oid])))
            return
        self.attempt(actor, lambda c: getattr(orders, action)(c, oid))

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), qty=st.integers(1, 3), sku=st.sampled_from(["a", "b"]))
    def request_return(self, data: st.DataObject, qty: int, sku: str) -> None:
        oid = data.draw(st.sampled_from(self.orders))
        self.attempt(self.order_owner(oid), lambda c: orders.request_return(c, oid, {sku: qty}))

    @rule(data=st.data(), confirm=st.booleans())
    def resolve_return(self, data: st.DataObject, confirm: bool) -> None:
        with self.platform.read() as c:
            pending = (
                c.conn.execute(select(returns.c.id).where(returns.c.status == "requested")).scalars().all()
            )
        if not pending:
            return
        rid = data.draw(st.sampled_from(pending))
        service = orders.confirm_return if confirm else orders.reject_return
        self.attempt(Actor("merchant", self.merchant_id), lambda c: service(c, rid))

    @rule(who=st.integers(0, 1), amount=st.integers(1, 1500_00))
    def repay(self, who: int, amount: int) -> None:
        cid = self.customers[who]
        self.attempt(Actor("customer", cid), lambda c: repayments.repay(c, cid, amount))

    @rule(who=st.integers(0, 1), amount=st.integers(1, 500_00))
    def refund_credit(self, who: int, amount: int) -> None:
        cid = self.customers[who]
        self.attempt(Actor("customer", cid), lambda c: repayments.refund_credit_balance(c, cid, amount))

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), plan=st.sampled_from(["m3", "m6", "m12"]))
    def convert(self, data: st.DataObject, plan: str) -> None:
        oid = data.draw(st.sampled_from(self.orders))
        self.attempt(self.order_owner(oid), lambda c: orders.convert_plan(c, oid, plan))

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), extra=st.integers(0, 10_00))
    def payoff(self, data: st.DataObject, extra: int) -> None:
        oid = data.draw(st.sampled_from(self.orders))
        owner = self.order_owner(oid)

        def work(c: Any) -> Any:
            return orders.payoff(c, oid, orders.payoff_quote(c, oid)["amount"] + extra)

        self.attempt(owner, work)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), approve=st.booleans())
    def review(self, data: st.DataObject, approve: bool) -> None:
        oid = data.draw(st.sampled_from(self.orders))
        self.attempt(ADMIN, lambda c: orders.decide_review(c, oid, approve, "analyst"))

    @rule(data=st.data())
    def reverse_payment(self, data: st.DataObject) -> None:
        with self.platform.read() as c:
            paid = c.conn.execute(select(payments.c.id)).scalars().all()
        if paid:
            pid = data.draw(st.sampled_from(paid))
            self.attempt(ADMIN, lambda c: repayments.reverse_payment(c, pid, "chargeback"))

    @rule(days=st.integers(1, 12))
    def next_days(self, days: int) -> None:
        clock = self.platform.clock
        assert isinstance(clock, FixedClock)
        clock.advance(days)
        run_eod(self.platform)
        before = self.entries()
        again = run_eod(self.platform)  # invariant 4: re-running a day changes nothing
        assert (again["expired"], again["deliveries_assumed"], again["merchants_settled"]) == (0, 0, 0)
        assert self.entries() == before

    # --- invariants ---
    @invariant()
    def ledger_holds(self) -> None:
        with self.platform.read(SYSTEM) as c:
            result = checks.check_ledger(c)
            assert result["ok"], result["problems"]
            bad_items = c.conn.execute(
                select(func.count())
                .select_from(order_items)
                .where(
                    order_items.c.returned_quantity + order_items.c.pending_quantity > order_items.c.quantity
                )
            ).scalar_one()
            assert bad_items == 0
            for cid in self.customers:
                account = parties.get_customer(c, cid)["account"]
                assert (
                    0 <= account["available"] == account["limit"] - account["outstanding"] - account["holds"]
                )


SETTINGS = settings(
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

TestLifecycleSqlite = Lifecycle.TestCase
TestLifecycleSqlite.settings = SETTINGS


class BatchedLifecycle(Lifecycle):
    batched = True


TestBatchedLifecycleSqlite = BatchedLifecycle.TestCase
TestBatchedLifecycleSqlite.settings = SETTINGS


@pytest.mark.skipif(not PG_URL, reason="BNPL_TEST_DATABASE_URL is not set")
@pytest.mark.parametrize("batched", [False, True], ids=["single", "batched"])
def test_lifecycle_on_postgres(pg_engine: Any, batched: bool) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    class OnPostgres(Lifecycle):
        backend = "postgres"

    OnPostgres.batched = batched

    OnPostgres.pg_engine = pg_engine
    run_state_machine_as_test(OnPostgres, settings=settings(SETTINGS, max_examples=10))
