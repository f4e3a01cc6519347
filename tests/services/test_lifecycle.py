"""Scenario tests of the order lifecycle, run on SQLite and (when reachable) PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bnpl.domain.errors import InvalidInput, InvalidState, ReturnTooLarge
from bnpl.eod import run_eod
from bnpl.runtime import ADMIN, Platform
from bnpl.services import credit_lines, orders, repayments, settlement
from bnpl.store.tables import journal_entries, ledger_lines
from tests.conftest import START
from tests.world import World


def merchant_balances(w: World) -> dict[str, int]:
    with w.platform.read(ADMIN) as c:
        return settlement.merchant_balances(c, w.merchant_id)


def entries(p: Platform) -> int:
    with p.read() as c:
        return int(c.conn.execute(select(func.count()).select_from(journal_entries)).scalar_one())


def test_pay_after_trial_from_checkout_to_settlement(platform: Platform) -> None:
    w = World.create(platform, limit=1000_00, mdr_bps=100, trial_days=7, settlement_delay_days=3)
    order = w.authorize(("tea-1", 199_00, 1), ("tea-2", 50_00, 2))
    assert order["status"] == "authorized" and order["amount"] == 299_00
    assert w.account() | {} == w.account() and w.account()["holds"] == 299_00
    assert w.account()["available"] == 1000_00 - 299_00

    platform.run(w.merchant, lambda c: orders.capture(c, order["id"]))
    acct = w.account()
    assert (acct["holds"], acct["outstanding"], acct["available"]) == (0, 299_00, 701_00)
    assert merchant_balances(w)["payable"] == 299_00 - 2_99  # price less 1% MDR

    platform.clock.advance(2)
    delivered = platform.run(w.customer, lambda c: orders.deliver(c, order["id"]))
    assert delivered["trial_ends_on"] == (START + timedelta(days=9)).isoformat()
    (only,) = w.order(order["id"])["schedule"]
    assert only["due_date"] == delivered["trial_ends_on"] and only["principal"] == 299_00 and only["fee"] == 0

    platform.clock.advance(1)
    summary = run_eod(platform)
    assert summary["merchants_settled"] == 1 and summary["settled_amount"] == 296_01
    assert merchant_balances(w)["payable"] == 0

    w.repay(299_00)
    assert w.account()["outstanding"] == 0 and w.account()["available"] == 1000_00
    assert w.order(order["id"])["schedule"][0]["status"] == "paid"
    assert w.statement()["total_owed"] == 0
    w.ledger_ok()


def test_decline_over_limit_places_no_hold_and_explains_why(platform: Platform) -> None:
    w = World.create(platform, limit=100_00)
    order = w.authorize(("phone", 150_00, 1))
    assert order["status"] == "declined"
    assert order["decision"]["outcome"] == "decline"
    assert [r["code"] for r in order["decision"]["reasons"]] == ["INSUFFICIENT_CREDIT"]
    assert order["decision"]["reasons"][0]["zh"]
    assert w.account()["holds"] == 0
    with pytest.raises(InvalidState):
        platform.run(w.merchant, lambda c: orders.capture(c, order["id"]))
    w.ledger_ok()


def test_frozen_line_is_declined(platform: Platform) -> None:
    w = World.create(platform)
    platform.run(ADMIN, lambda c: credit_lines.set_account(c, w.customer_id, state="frozen"))
    order = w.authorize(("tea", 10_00, 1))
    assert order["status"] == "declined"
    assert order["decision"]["reasons"][0]["code"] == "ACCOUNT_FROZEN"


def test_cancel_and_expiry_release_the_hold(platform: Platform) -> None:
    w = World.create(platform, limit=100_00)
    first = w.authorize(("a", 40_00, 1))
    second = w.authorize(("b", 50_00, 1))
    assert w.account()["available"] == 10_00
    platform.run(w.merchant, lambda c: orders.cancel(c, first["id"]))
    assert w.account()["holds"] == 50_00
    platform.clock.advance(platform.settings.authorization_ttl_days + 1)
    assert run_eod(platform)["expired"] == 1
    assert w.order(second["id"])["status"] == "expired"
    assert w.account()["holds"] == 0 and w.account()["available"] == 100_00
    w.ledger_ok()


def test_delivery_is_assumed_after_the_configured_days(platform: Platform) -> None:
    w = World.create(platform, trial_days=7)
    order_id = w.buy(("tea", 30_00, 1), deliver=False)
    platform.clock.advance(platform.settings.assumed_delivery_days)
    assert run_eod(platform)["deliveries_assumed"] == 1
    o = w.order(order_id)
    assumed_on = START + timedelta(days=platform.settings.assumed_delivery_days)
    assert o["status"] == "delivered" and o["delivered_on"] == assumed_on.isoformat()
    assert o["schedule"][0]["due_date"] == (assumed_on + timedelta(days=7)).isoformat()


def test_partial_return_before_settlement_reduces_debt_mdr_and_merchant_payable(platform: Platform) -> None:
    w = World.create(platform, mdr_bps=100)
    order_id = w.buy(("cup", 100_00, 1), ("pot", 200_00, 1))
    return_id = w.return_items(order_id, {"cup": 1})
    assert w.order(order_id)["pending_return_amount"] == 100_00
    assert w.statement()["upcoming"][0]["return_pending"] is True
    w.confirm_return(return_id)
    o = w.order(order_id)
    assert o["returned_amount"] == 100_00 and o["pending_return_amount"] == 0
    assert o["mdr_amount"] == 2_00 and o["schedule"][0]["principal"] == 200_00
    assert w.account()["outstanding"] == 200_00
    assert merchant_balances(w)["payable"] == 198_00
    w.ledger_ok()


def test_return_after_settlement_is_clawed_back_and_netted(platform: Platform) -> None:
    w = World.create(platform, mdr_bps=100, settlement_delay_days=0)
    order_id = w.buy(("cup", 100_00, 1))
    assert run_eod(platform)["settled_amount"] == 99_00
    w.confirm_return(w.return_items(order_id, {"cup": 1}))
    assert w.order(order_id)["status"] == "returned"
    assert merchant_balances(w)["receivable"] == 99_00
    assert w.account()["outstanding"] == 0
    second = w.buy(("pot", 300_00, 1))
    summary = run_eod(platform)
    assert summary["settled_amount"] == 297_00 - 99_00
    assert merchant_balances(w)["receivable"] == 0
    assert w.order(second)["settled_on"] is not None
    w.ledger_ok()


def test_refund_of_paid_goods_goes_to_credit_balance_and_a_later_purchase_uses_it(platform: Platform) -> None:
    w = World.create(platform)
    order_id = w.buy(("cup", 80_00, 1))
    w.repay(80_00)
    w.confirm_return(w.return_items(order_id, {"cup": 1}))
    assert w.account()["credit_balance"] == 80_00
    next_order = w.buy(("pot", 50_00, 1))
    assert w.order(next_order)["schedule"][0]["status"] == "paid"
    acct = w.account()
    assert acct["credit_balance"] == 30_00 and acct["outstanding"] == 0
    platform.run(w.customer, lambda c: repayments.refund_credit_balance(c, w.customer_id, 30_00))
    assert w.account()["credit_balance"] == 0
    w.ledger_ok()


def test_instalments_carry_the_fee_with_the_remainder_on_the_last(platform: Platform) -> None:
    w = World.create(platform, limit=5000_00)
    order_id = w.buy(("phone", 1000_01, 1), plan="m3")
    schedule = w.order(order_id)["schedule"]
    assert [s["principal"] for s in schedule] == [333_33, 333_33, 333_35]
    assert sum(s["fee"] for s in schedule) == 23_00  # 2.3% of 1000.01, half-up to the fen
    assert [s["fee"] for s in schedule] == [7_66, 7_66, 7_68]
    due = [s["due_date"] for s in schedule]
    assert due == sorted(due) and len(set(due)) == 3
    assert w.account()["outstanding"] == 1000_01  # the fee does not use the limit
    assert w.statement()["total_owed"] == 1023_01
    w.ledger_ok()


def test_merchant_subsidised_instalments_deduct_the_fee_from_settlement(platform: Platform) -> None:
    w = World.create(platform, mdr_bps=0)
    order_id = w.buy(("phone", 600_00, 1), plan="m6", fee_payer="merchant")
    o = w.order(order_id)
    assert sum(s["fee"] for s in o["schedule"]) == 0
    assert o["merchant_fee"] == 27_00  # 4.5% of 600 paid by the merchant (商家贴息)
    assert merchant_balances(w)["payable"] == 600_00 - 27_00
    w.ledger_ok()


def test_convert_pay_after_trial_into_instalments_during_the_trial_only(platform: Platform) -> None:
    w = World.create(platform, trial_days=7)
    order_id = w.buy(("tea", 300_00, 1))
    w.repay(30_00)
    converted = platform.run(w.customer, lambda c: orders.convert_plan(c, order_id, "m3"))
    open_items = [s for s in converted["schedule"] if s["status"] == "open"]
    assert [s["principal"] for s in open_items] == [90_00, 90_00, 90_00]
    assert sum(s["fee"] for s in open_items) == 6_21  # 2.3% of the 270 left
    assert converted["plan"] == "m3"
    w.ledger_ok()

    late = w.buy(("tea", 10_00, 1))
    platform.clock.advance(8)
    with pytest.raises(InvalidState, match="trial window ended"):
        platform.run(w.customer, lambda c: orders.convert_plan(c, late, "m3"))


def test_rejected_return_resumes_what_is_due(platform: Platform) -> None:
    w = World.create(platform)
    order_id = w.buy(("cup", 100_00, 2))
    return_id = w.return_items(order_id, {"cup": 1})
    platform.run(w.merchant, lambda c: orders.reject_return(c, return_id))
    o = w.order(order_id)
    assert o["pending_return_amount"] == 0 and o["items"][0]["pending_quantity"] == 0
    assert w.account()["outstanding"] == 200_00
    with pytest.raises(InvalidState):
        w.confirm_return(return_id)


def test_bad_returns_are_refused_and_change_nothing(platform: Platform) -> None:
    w = World.create(platform, trial_days=7)
    order_id = w.buy(("cup", 100_00, 2))
    before = entries(platform), w.order(order_id)
    with pytest.raises(ReturnTooLarge):
        w.return_items(order_id, {"cup": 3})
    w.return_items(order_id, {"cup": 1})
    with pytest.raises(ReturnTooLarge):
        w.return_items(order_id, {"cup": 2})  # one is already on its way back
    platform.clock.advance(8)
    with pytest.raises(InvalidState, match="trial window ended"):
        w.return_items(order_id, {"cup": 1})
    assert entries(platform) == before[0]
    assert w.order(order_id)["pending_return_amount"] == 100_00


def test_early_payoff_waives_fees_not_yet_due(platform: Platform) -> None:
    w = World.create(platform, limit=5000_00)
    order_id = w.buy(("phone", 1200_00, 1), plan="m12")
    with platform.read(w.customer) as c:
        quote = orders.payoff_quote(c, order_id)
    assert quote == {**quote, "principal": 1200_00, "fees": 0, "fees_waived": 90_00, "amount": 1200_00}
    result = platform.run(w.customer, lambda c: orders.payoff(c, order_id, 1250_00))
    assert result["payment"]["to_credit_balance"] == 50_00
    assert all(s["status"] == "paid" for s in w.order(order_id)["schedule"])
    assert w.account()["outstanding"] == 0 and w.account()["credit_balance"] == 50_00
    w.ledger_ok()


def test_overpayment_becomes_credit_balance(platform: Platform) -> None:
    w = World.create(platform)
    w.buy(("tea", 20_00, 1))
    payment = w.repay(25_00)
    assert payment["to_credit_balance"] == 5_00
    assert w.account()["credit_balance"] == 5_00
    w.ledger_ok()


def test_running_a_day_twice_changes_nothing(platform: Platform) -> None:
    w = World.create(platform, settlement_delay_days=0)
    w.buy(("tea", 20_00, 1))
    w.authorize(("tea", 5_00, 1))
    platform.clock.advance(30)
    first = run_eod(platform)
    count = entries(platform)
    with platform.read() as c:
        lines = c.conn.execute(select(func.count()).select_from(ledger_lines)).scalar_one()
    second = run_eod(platform)
    assert first["expired"] == 1 and first["merchants_settled"] == 1
    assert (second["expired"], second["merchants_settled"], second["deliveries_assumed"]) == (0, 0, 0)
    assert entries(platform) == count
    with platform.read() as c:
        assert c.conn.execute(select(func.count()).select_from(ledger_lines)).scalar_one() == lines


def test_a_bounced_payment_is_undone_by_a_reversing_entry(platform: Platform) -> None:
    w = World.create(platform)
    order_id = w.buy(("tea", 60_00, 1))
    payment = w.repay(70_00)  # 10 yuan too much: credit balance
    assert w.account()["credit_balance"] == 10_00
    lines_before = entries(platform)
    result = platform.run(ADMIN, lambda c: repayments.reverse_payment(c, payment["id"], "card chargeback"))
    assert result["amount"] == 70_00 and entries(platform) == lines_before + 1
    acct = w.account()
    assert (acct["outstanding"], acct["credit_balance"]) == (60_00, 0)
    assert w.order(order_id)["schedule"][0]["status"] == "open"
    with pytest.raises(InvalidState, match="already reversed"):
        platform.run(ADMIN, lambda c: repayments.reverse_payment(c, payment["id"], "again"))
    w.ledger_ok()


def test_return_after_a_conversion_takes_back_the_fee_charged_on_what_was_converted(
    platform: Platform,
) -> None:
    w = World.create(platform)
    order_id = w.buy(("pot", 90_00, 1), ("cup", 10_00, 1))
    w.repay(60_00)
    platform.run(w.customer, lambda c: orders.convert_plan(c, order_id, "m3"))  # fee on the 40 left: 92 fen
    w.confirm_return(w.return_items(order_id, {"pot": 1}))
    acct = w.account()
    assert acct["outstanding"] == 0 and w.statement()["total_owed"] == 0
    assert acct["credit_balance"] == 50_00  # paid 60 for goods now worth 10
    w.ledger_ok()


def test_a_payoff_overpayment_stays_as_credit_balance(platform: Platform) -> None:
    w = World.create(platform, limit=5000_00)
    first = w.buy(("tea", 30_00, 1))
    other = w.buy(("cup", 600_00, 1), plan="m6")
    result = platform.run(w.customer, lambda c: orders.payoff(c, first, 50_00))
    acct = w.account()
    assert result["payment"]["to_credit_balance"] == acct["credit_balance"] == 20_00
    assert all(s["fee_paid"] == 0 for s in w.order(other)["schedule"])  # no future fee prepaid
    w.ledger_ok()


def test_reversals_that_would_break_the_books_are_refused(platform: Platform) -> None:
    w = World.create(platform, limit=100_00)
    w.buy(("tea", 100_00, 1))
    first = w.repay(100_00)
    w.buy(("tea", 100_00, 1))
    with pytest.raises(InvalidState, match="over their limit"):
        platform.run(ADMIN, lambda c: repayments.reverse_payment(c, first["id"], "chargeback"))
    other = World.create(platform)
    order_id = other.buy(("cup", 40_00, 1), ("pot", 60_00, 1))
    paid = other.repay(100_00)
    other.confirm_return(other.return_items(order_id, {"cup": 1}))
    with pytest.raises(InvalidState, match="changed since this payment"):
        platform.run(ADMIN, lambda c: repayments.reverse_payment(c, paid["id"], "chargeback"))
    w.ledger_ok()


def test_a_step_dated_before_the_orders_last_step_is_refused(platform: Platform) -> None:
    w = World.create(platform)
    order = w.authorize(("tea", 10_00, 1))
    platform.clock.advance(-1)
    with pytest.raises(InvalidState, match="before this order's last step"):
        platform.run(w.merchant, lambda c: orders.capture(c, order["id"]))
    assert w.order(order["id"])["status"] == "authorized"


def test_instalment_plans_need_at_least_a_yuan_per_instalment(platform: Platform) -> None:
    w = World.create(platform)
    with pytest.raises(InvalidInput, match="m12 needs at least 1200 fen"):
        w.authorize(("tea", 11_99, 1), plan="m12")
    assert w.authorize(("tea", 12_00, 1), plan="m12")["status"] == "authorized"
