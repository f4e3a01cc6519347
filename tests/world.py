"""A small vocabulary for scenario tests, so a test reads like an operator's log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bnpl.domain.orders import Item
from bnpl.runtime import ADMIN, SYSTEM, Actor, Platform
from bnpl.services import checks, orders, parties, repayments, statements


@dataclass
class World:
    platform: Platform
    merchant_id: int
    customer_id: int

    @classmethod
    def create(
        cls,
        platform: Platform,
        limit: int = 1000_00,
        mdr_bps: int = 100,
        trial_days: int = 7,
        settlement_delay_days: int = 3,
    ) -> World:
        m = platform.run(
            ADMIN,
            lambda c: parties.create_merchant(
                c, "Test Merchant", mdr_bps, trial_days, settlement_delay_days, ["tea", "phones"]
            ),
        )
        cu = platform.run(ADMIN, lambda c: parties.create_customer(c, "Test Shopper", limit))
        return cls(platform, m["id"], cu["id"])

    @property
    def merchant(self) -> Actor:
        return Actor("merchant", self.merchant_id)

    @property
    def customer(self) -> Actor:
        return Actor("customer", self.customer_id)

    def new_customer(self, limit: int = 1000_00) -> int:
        return self.platform.run(ADMIN, lambda c: parties.create_customer(c, "Another Shopper", limit))["id"]

    def authorize(
        self,
        *items: tuple[str, int, int],
        plan: str = "pay_after_trial",
        customer_id: int | None = None,
        fee_payer: str = "customer",
    ) -> dict[str, Any]:
        cmd = orders.AuthorizeCommand(
            self.merchant_id,
            customer_id or self.customer_id,
            [Item(sku, "tea", price, qty) for sku, price, qty in items],
            plan,
            fee_payer=fee_payer,
        )
        answer = self.platform.run(self.merchant, lambda c: orders.authorize(c, cmd))
        return self.order(answer["id"])  # as staff see it: the real reasons

    def buy(
        self,
        *items: tuple[str, int, int],
        plan: str = "pay_after_trial",
        deliver: bool = True,
        fee_payer: str = "customer",
    ) -> int:
        order = self.authorize(*items, plan=plan, fee_payer=fee_payer)
        assert order["status"] == "authorized", order
        self.platform.run(self.merchant, lambda c: orders.capture(c, order["id"]))
        if deliver:
            self.platform.run(self.customer, lambda c: orders.deliver(c, order["id"]))
        return int(order["id"])

    def order(self, order_id: int) -> dict[str, Any]:
        with self.platform.read(ADMIN) as c:
            return orders.get_order(c, order_id)

    def account(self, customer_id: int | None = None) -> dict[str, Any]:
        with self.platform.read(ADMIN) as c:
            return parties.get_customer(c, customer_id or self.customer_id)["account"]

    def statement(self) -> dict[str, Any]:
        with self.platform.read(ADMIN) as c:
            return statements.statement(c, self.customer_id)

    def repay(self, amount: int) -> dict[str, Any]:
        return self.platform.run(self.customer, lambda c: repayments.repay(c, self.customer_id, amount))

    def return_items(self, order_id: int, items: dict[str, int]) -> int:
        r = self.platform.run(self.customer, lambda c: orders.request_return(c, order_id, items))
        return int(r["id"])

    def confirm_return(self, return_id: int) -> dict[str, Any]:
        return self.platform.run(self.merchant, lambda c: orders.confirm_return(c, return_id))

    def ledger_ok(self) -> dict[str, Any]:
        with self.platform.read(SYSTEM) as c:
            result = checks.check_ledger(c)
        assert result["ok"], result["problems"]
        return result
