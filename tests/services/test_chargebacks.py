"""Chargebacks after the money is gone: a payment reversed once its overpayment was refunded or
spent leaves the customer owing that money again (chargeback receivable), shown on the statement
and paid off by the next payment or credit. Scenario tests, then random sequences of repay /
refund / reverse (and the purchases and returns that move the credit balance) on both databases.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select, text

from bnpl.domain.errors import DomainError
from bnpl.domain.ledger import Account
from bnpl.domain.orders import Item
from bnpl.runtime import ADMIN, SYSTEM, Actor, FixedClock, Platform, Settings
from bnpl.services import checks, orders, parties, repayments, statements
from bnpl.services.boot import open_platform
from bnpl.store.db import make_engine
from bnpl.store.migrate import upgrade
from bnpl.store.tables import journal_entries, ledger_lines, payments
from tests.conftest import PG_URL, START, truncate
from tests.world import World


def reverse(platform: Platform, payment_id: int) -> dict[str, Any]:
    return platform.run(ADMIN, lambda c: repayments.reverse_payment(c, payment_id, "card chargeback"))


def refund(w: World, amount: int) -> dict[str, Any]:
    return w.platform.run(w.customer, lambda c: repayments.refund_credit_balance(c, w.customer_id, amount))


def test_a_chargeback_after_the_credit_balance_was_refunded_is_owed_again(platform: Platform) -> None:
    w = World.create(platform)
    order_id = w.buy(("tea", 10_00, 1))
    payment = w.repay(50_00)  # 40 yuan too much: credit balance
    refund(w, 40_00)  # paid back out to the shopper
    result = reverse(platform, payment["id"])  # and then the card payment is charged back
    assert result["chargeback_owed"] == 40_00
    acct = w.account()
    assert (acct["outstanding"], acct["credit_balance"], acct["chargeback_owed"]) == (10_00, 0, 40_00)
    assert w.order(order_id)["schedule"][0]["status"] == "open"
    statement = w.statement()
    assert (statement["total_owed"], statement["chargeback_owed"]) == (10_00 + 40_00, 40_00)
    assert statement["history"][0]["description"] == "Payment reversed (bounced or charged back)"
    assert statement["history"][0]["owed_change"] == 10_00 + 40_00
    w.ledger_ok()

    paid = w.repay(55_00)  # the bill first, then the chargeback, the rest is credit again
    assert [a["amount"] for a in paid["allocations"]] == [10_00]
    assert (paid["to_chargeback"], paid["to_credit_balance"]) == (40_00, 5_00)
    acct = w.account()
    assert (acct["outstanding"], acct["credit_balance"], acct["chargeback_owed"]) == (0, 5_00, 0)
    assert w.statement()["total_owed"] == 0
    w.ledger_ok()


def test_a_chargeback_after_the_credit_was_spent_on_a_purchase_is_cleared_by_a_return(
    platform: Platform,
) -> None:
    w = World.create(platform)
    w.buy(("tea", 10_00, 1))
    payment = w.repay(50_00)  # 40 credit
    later = w.buy(("cup", 30_00, 1))  # the capture spends 30 of it
    assert w.account()["credit_balance"] == 10_00
    reverse(platform, payment["id"])
    acct = w.account()  # 10 taken back from the credit balance, 30 owed again
    assert (acct["credit_balance"], acct["chargeback_owed"], acct["outstanding"]) == (0, 30_00, 10_00)
    w.ledger_ok()
    # the cup goes back: its 30, paid from the credit, comes back as credit and pays the tea's 10
    # and 20 of the chargeback rather than sitting beside them
    w.confirm_return(w.return_items(later, {"cup": 1}))
    acct = w.account()
    assert (acct["credit_balance"], acct["chargeback_owed"], acct["outstanding"]) == (0, 10_00, 0)
    assert w.statement()["total_owed"] == 10_00
    w.ledger_ok()


def test_reversing_a_payment_that_paid_a_chargeback_makes_it_owed_again(platform: Platform) -> None:
    w = World.create(platform)
    first = w.repay(30_00)  # nothing owed: all credit
    refund(w, 30_00)
    reverse(platform, first["id"])
    assert w.account()["chargeback_owed"] == 30_00
    second = w.repay(30_00)
    assert (second["to_chargeback"], w.account()["chargeback_owed"]) == (30_00, 0)
    reverse(platform, second["id"])  # that one bounced too
    assert w.account()["chargeback_owed"] == 30_00
    assert w.statement()["total_owed"] == 30_00
    w.ledger_ok()


def test_a_credit_balance_beside_reopened_bills_pays_them(platform: Platform) -> None:
    w = World.create(platform)
    w.buy(("pot", 50_00, 1))
    first = w.repay(50_00)
    cup = w.buy(("cup", 30_00, 1))
    w.repay(30_00)
    w.confirm_return(w.return_items(cup, {"cup": 1}))  # the paid cup comes back: 30 credit
    assert w.account()["credit_balance"] == 30_00
    reverse(platform, first["id"])  # the pot's bill reopens, and the credit pays what it can
    acct = w.account()
    assert (acct["outstanding"], acct["credit_balance"], acct["chargeback_owed"]) == (20_00, 0, 0)
    w.ledger_ok()


def test_the_ledger_check_catches_a_chargeback_cache_out_of_step(platform: Platform) -> None:
    w = World.create(platform)
    first = w.repay(30_00)
    refund(w, 30_00)
    reverse(platform, first["id"])
    with platform.engine.begin() as conn:
        conn.execute(text("UPDATE credit_accounts SET chargeback_owed = 0"))
    with platform.read(SYSTEM) as c:
        problems = checks.check_ledger(c)["problems"]
    assert problems == [f"customer {w.customer_id}: chargeback owed 0 but ledger says 3000"]


# --- random sequences ---------------------------------------------------------------------------

_template: dict[str, Path] = {}


def _sqlite_platform() -> Platform:
    if "path" not in _template:
        path = Path(tempfile.mkdtemp()) / "template.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()
        _template["path"] = path
    target = Path(tempfile.mkdtemp()) / "bnpl.db"
    shutil.copy(_template["path"], target)
    return open_platform(Settings(database_url=f"sqlite:///{target}"), clock=FixedClock(START))


class Chargebacks(RuleBasedStateMachine):
    """One shopper who overpays, asks for refunds, buys, returns, and whose payments bounce. Any
    exception but a refusal (DomainError) fails the test; a refusal must change nothing."""

    backend = "sqlite"
    pg_engine: Any = None

    def __init__(self) -> None:
        super().__init__()
        if self.backend == "sqlite":
            self.platform = _sqlite_platform()
        else:
            truncate(self.pg_engine)
            self.platform = open_platform(Settings(), clock=FixedClock(START), engine=self.pg_engine)
        p = self.platform
        self.merchant_id = p.run(ADMIN, lambda c: parties.create_merchant(c, "M", 100, 7, 2, ["tea"]))["id"]
        self.customer_id = p.run(ADMIN, lambda c: parties.create_customer(c, "C", 1000_00))["id"]
        self.customer = Actor("customer", self.customer_id)
        self.orders: list[int] = []

    def teardown(self) -> None:
        if self.backend == "sqlite":
            self.platform.dispose()

    def entries(self) -> int:
        with self.platform.read() as c:
            return int(c.conn.execute(select(func.count()).select_from(journal_entries)).scalar_one())

    def attempt(self, actor: Actor, work: Any) -> Any:
        before = self.entries()
        try:
            return self.platform.run(actor, work)
        except DomainError:
            assert self.entries() == before, "a refused operation changed the ledger"
            return None

    @rule(price=st.integers(1, 300_00), plan=st.sampled_from(["pay_after_trial", "m3"]))
    def buy(self, price: int, plan: str) -> None:
        cmd = orders.AuthorizeCommand(
            self.merchant_id, self.customer_id, [Item("a", "tea", price, 1), Item("b", "tea", 5_00, 1)], plan
        )
        merchant = Actor("merchant", self.merchant_id)
        order = self.attempt(merchant, lambda c: orders.authorize(c, cmd))
        if order and order["status"] == "authorized":
            self.attempt(merchant, lambda c: orders.capture(c, order["id"]))
            self.orders.append(order["id"])

    @rule(amount=st.integers(1, 400_00))
    def repay(self, amount: int) -> None:
        self.attempt(self.customer, lambda c: repayments.repay(c, self.customer_id, amount))

    @rule(extra=st.integers(1, 100_00))
    def overpay(self, extra: int) -> None:
        """Pay everything the statement shows, and a little more: credit balance."""
        with self.platform.read(ADMIN) as c:
            owed = statements.statement(c, self.customer_id)["total_owed"]
        self.attempt(self.customer, lambda c: repayments.repay(c, self.customer_id, owed + extra))

    @rule(share=st.sampled_from([1, 1, 2, 4]))
    def refund(self, share: int) -> None:
        """The shopper asks for all, half or a quarter of their credit balance back."""
        with self.platform.read(ADMIN) as c:
            credit = parties.get_customer(c, self.customer_id)["account"]["credit_balance"]
        amount = max(1, credit // share)
        self.attempt(self.customer, lambda c: repayments.refund_credit_balance(c, self.customer_id, amount))

    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        with self.platform.read() as c:
            paid = c.conn.execute(select(payments.c.id)).scalars().all()
        if paid:
            pid = data.draw(st.sampled_from(paid))
            result = self.attempt(ADMIN, lambda c: repayments.reverse_payment(c, pid, "chargeback"))
            if result is not None:
                event("reversed, leaving a chargeback owed" if result["chargeback_owed"] else "reversed")

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), sku=st.sampled_from(["a", "b"]))
    def give_back(self, data: st.DataObject, sku: str) -> None:
        oid = data.draw(st.sampled_from(self.orders))
        r = self.attempt(self.customer, lambda c: orders.request_return(c, oid, {sku: 1}))
        if r:
            self.attempt(Actor("merchant", self.merchant_id), lambda c: orders.confirm_return(c, r["id"]))

    @invariant()
    def books_hold(self) -> None:
        with self.platform.read(SYSTEM) as c:
            result = checks.check_ledger(c)
            assert result["ok"], result["problems"]
            statement = statements.statement(c, self.customer_id)
            owed_by_ledger = c.conn.execute(
                select(func.coalesce(func.sum(ledger_lines.c.amount), 0)).where(
                    ledger_lines.c.customer_id == self.customer_id,
                    ledger_lines.c.account.in_(
                        [
                            Account.CUSTOMER_PRINCIPAL.value,
                            Account.CUSTOMER_FEE.value,
                            Account.CUSTOMER_CHARGEBACK.value,
                        ]
                    ),
                )
            ).scalar_one()
        account = statement["account"]
        # what the statement says is owed is what the ledger says the customer owes
        assert statement["total_owed"] == owed_by_ledger
        assert (
            statement["total_owed"]
            == sum(u["amount"] for u in statement["upcoming"]) + (account["chargeback_owed"])
        )
        assert 0 <= account["available"] == account["limit"] - account["outstanding"] - account["holds"]
        assert not (account["credit_balance"] and account["chargeback_owed"])


SETTINGS = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

TestChargebacksSqlite = Chargebacks.TestCase
TestChargebacksSqlite.settings = SETTINGS


@pytest.mark.skipif(not PG_URL, reason="BNPL_TEST_DATABASE_URL is not set")
def test_chargebacks_on_postgres(pg_engine: Any) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    class OnPostgres(Chargebacks):
        backend = "postgres"

    OnPostgres.pg_engine = pg_engine
    run_state_machine_as_test(OnPostgres, settings=settings(SETTINGS, max_examples=10))
