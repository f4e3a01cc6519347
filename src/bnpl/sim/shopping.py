"""Shoppers shop: each day's purchase intents, drawn for the whole population from the day's own
random stream (common random numbers: two policies on one world see the same shoppers wanting the
same things), and a checkout through ``orders.authorize`` for each who wants to pay later."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from bnpl.domain.orders import Item
from bnpl.domain.plans import PLANS
from bnpl.runtime import Actor
from bnpl.services import orders as order_service
from bnpl.sim import behaviour as bh
from bnpl.sim.population import STRESS_DAYS, basket, default_probability, fraud_merchant, fraud_targets
from bnpl.sim.state import Loan

if TYPE_CHECKING:
    from bnpl.sim.engine import Simulation


def shop(sim: Simulation, day: int) -> None:
    """The day's purchase intents, drawn for every shopper at once, and a checkout for each who
    wants to pay later; the intents and loans are kept in the simulation's truth."""
    cfg, w = sim.config, sim.world
    shoppers, merchants, creators = w.shoppers, w.merchants, w.creators
    rng = sim.rng(day, 6)
    n = len(shoppers)
    live_today = rng.random(len(creators)) < cfg.behaviour.live_days_share * creators["live_share"].to_numpy()
    fraud = shoppers["fraud"].to_numpy()
    base = bh.intent_rate(
        shoppers["impulse"].to_numpy(), shoppers["appetite"].to_numpy(), sim.engagement, cfg.behaviour
    )
    base = np.where(np.isin(fraud, ["reseller", "ring"]), base * 2.5, base)
    burst = np.where(
        live_today[sim.follows],
        cfg.behaviour.burst_per_hype * creators["hype"].to_numpy()[sim.follows],
        0,
    )
    u = rng.random(n)
    wants = u < base + burst
    from_stream = wants & (u >= base)
    stolen_now = (sim.stolen_on >= 0) & ((sim.stolen_on == day) | (sim.stolen_on == day - 1))
    wants |= stolen_now
    # stress shocks start today for some
    shock = rng.random(n) < shoppers["stress_rate"].to_numpy() / 30
    sim.stressed_until = np.where(shock, day + STRESS_DAYS, sim.stressed_until)
    who = np.flatnonzero(wants)
    k = len(who)
    if k == 0:
        return

    # Every draw is made for all n shoppers and then read for those who want something, so two
    # policies on the same world draw the same numbers for the same shopper on the same day
    # (common random numbers), whoever else happens to shop.
    def each(values: np.ndarray) -> np.ndarray:
        return values[who]

    targets = fraud_targets(merchants)
    colluding, resale = targets
    picks, video = each(rng.integers(0, len(merchants), n)), each(rng.random(n) < 0.45)
    ring_pick, resale_pick = (
        each(rng.integers(0, max(len(colluding), 1), n)),
        each(rng.integers(0, max(len(resale), 1), n)),
    )
    creator_merchant = creators["merchant"].to_numpy()[sim.follows[who]]
    channel = np.where(from_stream[who], "live_stream", np.where(video, "short_video", "mall"))
    merchant = np.where(channel == "mall", picks, creator_merchant)
    # a stolen account's owner shops as themselves; only the two days of the theft are fraud
    kind = np.where(fraud[who] == "stolen", "none", fraud[who]).astype(object)
    kind[stolen_now[who]] = "stolen"
    merchant = fraud_merchant(targets, kind, merchant, ring_pick, resale_pick)
    two_u = each(rng.random(n))  # drawn before the noise, in this order
    unit, qty = basket(
        merchants["price"].to_numpy()[merchant], kind, two_u, each(np.exp(rng.normal(0, 0.3, n)))
    )
    amount = unit * qty
    income, appetite, impulse = (shoppers[c].to_numpy()[who] for c in ("income", "appetite", "impulse"))
    p_without, p_with = bh.conversion(amount, income, appetite, impulse, cfg.behaviour)
    stressed = sim.stressed_until[who] >= day
    true_pd = default_probability(shoppers["worth"].to_numpy()[who], income, amount, kind, stressed)
    fate = each(rng.random(n)) < true_pd  # drawn for every intent: a declined loan's fate is known too
    buy_u, bnpl_u = each(rng.random(n)), each(rng.random(n))
    hours = np.where(channel == "live_stream", each(rng.integers(11, 15, n)), each(rng.integers(1, 15, n)))
    minutes = each(rng.integers(0, 60, n))
    lags = each(bh.loan_lag(rng, shoppers["worth"].to_numpy(), cfg.behaviour))
    bad_from = np.where(each(rng.random(n)) < 0.8, 1, 2)
    plans = each(rng.random(n))
    for j, shopper in enumerate(who):
        row: dict[str, Any] = {
            "day": day,
            "shopper": int(shopper),
            "control": bool(sim.control[shopper]),
            "channel": str(channel[j]),
            "merchant": int(merchant[j]),
            "amount": int(amount[j]),
            "fraud": str(kind[j]),
            "true_pd": float(true_pd[j]),
            "fate_bad": bool(fate[j]),
            "bnpl": False,
            "order_id": None,
            "outcome": None,
            "purchased": False,
            "checkout_at": None,  # when the pay-later checkout was asked for (UTC)
        }
        sim.truth.intents.append(row)
        fraudulent = kind[j] != "none"
        if sim.control[shopper]:
            row["purchased"] = bool(buy_u[j] < p_without[j]) and not fraudulent
            continue
        if not fraudulent and buy_u[j] >= p_with[j]:
            continue  # not even the offer makes this one buy
        only_with_offer = buy_u[j] >= p_without[j]
        wants_bnpl = fraudulent or only_with_offer or bnpl_u[j] < cfg.behaviour.bnpl_take_up
        if not wants_bnpl:
            row["purchased"] = True
            continue
        sim.clock.set_time(sim.date_of(day), int(hours[j]), int(minutes[j]))
        row["checkout_at"] = sim.clock.now().isoformat()
        order = checkout(
            sim, int(shopper), int(merchant[j]), int(unit[j]), int(qty[j]), str(channel[j]), float(plans[j])
        )
        if order is None:
            continue
        row["order_id"], row["outcome"] = order["id"], order["decision"]["outcome"]
        sim.intent_of[order["id"]] = row
        sim.truth.loans[order["id"]] = Loan(
            order_id=order["id"],
            shopper=int(shopper),
            customer_id=order["customer_id"],
            merchant=int(merchant[j]),
            amount=int(amount[j]),
            true_pd=float(true_pd[j]),
            bad=bool(fate[j]),
            bad_from=min(int(bad_from[j]), order["instalments"]),  # a one-payment loan stops at 1
            lag=int(lags[j]),
            fraud=str(kind[j]),
        )
        if order["status"] == "authorized":
            row["bnpl"] = row["purchased"] = True
            sim.ship_on[order["id"]] = day + 1
            sim.engagement[shopper] = min(sim.engagement[shopper] + cfg.behaviour.stickiness, 2.0)
        elif order["status"] == "declined":
            # a buyer who would have bought anyway pays another way; one tempted by the offer walks
            row["purchased"] = not only_with_offer and not fraudulent
        # an order in review waits for the analyst (it ships if approved)


def checkout(
    sim: Simulation, shopper: int, merchant: int, unit: int, qty: int, channel: str, plan_u: float
) -> dict[str, Any] | None:
    customer_id = int(sim.customer_of[shopper])
    amount = unit * qty
    plan = "pay_after_trial"
    if amount >= 300_00 and plan_u < 0.45:
        plan = "m3"
    if amount >= 1_000_00 and plan_u < 0.2:
        plan = "m6"
    if amount >= 3_000_00 and plan_u < 0.08:
        plan = "m12"
    creator = int(sim.follows[shopper])
    cmd = order_service.AuthorizeCommand(
        merchant_id=sim.merchant_ids[merchant],
        customer_id=customer_id,
        items=[
            Item(
                sku=f"sku-{merchant}-{unit}",
                category=sim.category[merchant],
                unit_price=unit,
                quantity=qty,
            )
        ],
        plan_code=plan,
        channel=channel,
        stream_id=f"stream-{creator}" if channel == "live_stream" else None,
        creator_id=f"creator-{creator}" if channel != "mall" else None,
        device_id=sim.device[shopper],
        address_hash=sim.address[shopper],
    )
    order = sim.attempt(
        Actor("merchant", sim.merchant_ids[merchant]), partial(order_service.authorize, cmd=cmd)
    )
    if order is None:
        return None
    return {**order, "customer_id": customer_id, "instalments": PLANS[plan].instalments}
