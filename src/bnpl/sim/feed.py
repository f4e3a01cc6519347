"""The host marketplace's side of the season: its shoppers' consent and the data feed it sends,
through the real services (``services.marketplace``: ``grant_consent``, ``withdraw_consent``,
``ingest``), never the tables. What is sent is drawn in ``sim/market_life.py``.

* **Before the season** (the season's first date, 08:00–08:30 local): the shoppers who consent
  grant it (scope: profile, order and, for most, engagement); the marketplace sends each of them a
  profile, the orders they paid by other means over up to the last 12 months of their tenure, and
  four weeks of live-stream minutes, in signed-size batches of 5,000 records.
* **Each morning** (10:00 local, before anything else): the few who withdraw do so; the marketplace
  sends yesterday's records in one batch: orders paid by other means — the shoppers' everyday
  marketplace buying, drawn from their habits, and the simulator's own purchases that were not paid
  later (the control group, and buyers declined who paid another way) — a stolen account's
  takeover (a new phone, one more address) the evening before the thief shops, and, every seventh
  day, last week's live-stream minutes. Only shoppers whose consent is in effect are sent.

Under the ``no-feed`` policy nothing of this happens: no consent, no feed, the platform as it was.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from bnpl.domain.marketplace import MAX_BATCH
from bnpl.runtime import ADMIN, Actor
from bnpl.services import marketplace
from bnpl.sim import market_life as life

if TYPE_CHECKING:
    from bnpl.sim.engine import Simulation

FEED = Actor("marketplace")
NOTICE_VERSION = "sim-2026.1"
CONSENTS_PER_TRANSACTION = 1_000
HISTORY_DAYS = 365  # the features look back 12 months; older orders would only be stored
ENGAGEMENT_WEEKS = 4
PURPOSE_ORDERS, PURPOSE_PURCHASES = 8, 9


class MarketplaceFeed:
    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.habits = life.draw_habits(sim.world, sim.config.seed, sim.config.days)
        h = self.habits.frame
        self.consents = h["consents"].to_numpy().copy()
        self.engagement_scope = h["engagement_scope"].to_numpy()
        self.withdraws_on = h["withdraws_on"].to_numpy()
        self.pending: dict[int, list[dict[str, Any]]] = {}  # day -> records to send that morning
        self.next_order = 0
        self.sent = 0

    # --- before the season ------------------------------------------------------------------------

    def before_season(self) -> None:
        sim, start = self.sim, self.sim.config.start
        who = np.flatnonzero(self.consents)
        sim.clock.set_time(start, 0)  # 08:00 local: consent given on the marketplace
        for first in range(0, len(who), CONSENTS_PER_TRANSACTION):
            chunk = who[first : first + CONSENTS_PER_TRANSACTION]
            sim.platform.run(ADMIN, partial(self._grant, shoppers=chunk))
        sim.clock.set_time(start, 0, 30)
        observed = datetime.combine(start, time(0), tzinfo=UTC)
        records = [self._profile(int(s), observed, "0") for s in who]
        tenure = self.habits.col("tenure_days")[who]
        rng = np.random.default_rng([sim.config.seed, 0, 18])
        drawn = life.draw_orders(
            rng, self.habits, who, start - timedelta(days=1), np.minimum(tenure, HISTORY_DAYS)
        )
        records += self._orders(drawn)
        watchers = who[self.engagement_scope[who]]
        for week in range(ENGAGEMENT_WEEKS, 0, -1):
            records += self._engagement(rng, watchers, start - timedelta(days=7 * week))
        self._send(records)
        self._takeovers()

    def _grant(self, ctx: Any, shoppers: np.ndarray) -> None:
        for s in shoppers:
            scope = ["profile", "order"] + (["engagement"] if self.engagement_scope[s] else [])
            marketplace.grant_consent(
                ctx, int(self.sim.customer_of[s]), "credit_assessment", scope, NOTICE_VERSION
            )

    def _takeovers(self) -> None:
        """A stolen account's new phone and address, the evening before the thief first shops (for
        most takeovers), and honest shoppers' own changes of phone or address in the season."""
        sim = self.sim
        shown = self.habits.col("takeover_shown")
        for s in np.flatnonzero((sim.stolen_on >= 0) & shown):
            day = int(sim.stolen_on[s])
            observed = datetime.combine(sim.date_of(day) - timedelta(days=1), time(13), tzinfo=UTC)
            self.pending.setdefault(day, []).append(self._profile(int(s), observed, "takeover"))
        change = self.habits.col("change_day")
        for s in np.flatnonzero((change >= 1) & (change < sim.config.days) & (sim.stolen_on < 0)):
            day = int(change[s])
            observed = datetime.combine(sim.date_of(day) - timedelta(days=1), time(12), tzinfo=UTC)
            self.pending.setdefault(day, []).append(self._profile(int(s), observed, "change"))

    # --- each day ---------------------------------------------------------------------------------

    def morning(self, day: int) -> None:
        """Withdrawals, then yesterday's records (of shoppers still consenting) in one batch."""
        sim = self.sim
        for s in np.flatnonzero(self.withdraws_on == day):
            if self.consents[s]:
                customer = int(sim.customer_of[s])
                sim.attempt(
                    Actor("customer", customer), partial(marketplace.withdraw_consent, customer_id=customer)
                )
                self.consents[s] = False
        records = self.pending.pop(day, [])
        if day >= 7 and day % 7 == 0:
            watchers = np.flatnonzero(self.consents & self.engagement_scope)
            records += self._engagement(sim.rng(day, PURPOSE_ORDERS), watchers, sim.date_of(day - 7))
        self._send(records)

    def after_shopping(self, day: int, first_intent: int) -> None:
        """Today's marketplace orders paid by other means, queued for tomorrow morning."""
        sim = self.sim
        who = np.flatnonzero(self.consents)
        stressed = sim.stressed_until[who] >= day
        drawn = life.draw_orders(
            sim.rng(day, PURPOSE_ORDERS), self.habits, who, sim.date_of(day), np.ones(len(who)), stressed
        )
        records = self._orders(drawn)
        bought = [
            row
            for row in sim.truth.intents[first_intent:]
            if row["purchased"]
            and not row["bnpl"]
            and row["fraud"] == "none"
            and self.consents[row["shopper"]]
        ]
        if bought:
            records += self._purchases(sim.rng(day, PURPOSE_PURCHASES), day, bought)
        self.pending.setdefault(day + 1, []).extend(records)

    # --- records ----------------------------------------------------------------------------------

    def _send(self, records: list[dict[str, Any]]) -> None:
        sent = [r for r in records if self.consents[self.sim.shopper_of[r["customer_id"]]]]
        for first in range(0, len(sent), MAX_BATCH):
            batch = list(enumerate(sent[first : first + MAX_BATCH]))
            self.sim.platform.run(FEED, partial(marketplace.ingest, records=batch))
        self.sent += len(sent)

    def _profile(self, shopper: int, observed: datetime, tag: str) -> dict[str, Any]:
        h = self.habits.frame
        takeover = tag == "takeover"
        new_phone = takeover or (tag == "change" and bool(h["change_phone"].iat[shopper]))
        new_address = takeover or (tag == "change" and not new_phone)
        return {
            "type": "profile",
            "event_id": f"mkp-{self.sim.customer_of[shopper]}-{tag}",
            "customer_id": int(self.sim.customer_of[shopper]),
            "observed_at": observed.isoformat(),
            "account_opened_at": (
                datetime.combine(self.sim.config.start, time(0), tzinfo=UTC)
                - timedelta(days=int(h["tenure_days"].iat[shopper]))
            ).isoformat(),
            "real_name_verified": bool(h["real_name"].iat[shopper]),
            "phone_tenure_band": life.PHONE_BANDS[0 if new_phone else int(h["phone_band"].iat[shopper])],
            "payment_methods": int(h["payment_methods"].iat[shopper]) + takeover,
            "addresses_12m": int(h["addresses"].iat[shopper]) + new_address,
        }

    def _orders(self, drawn: dict[str, np.ndarray]) -> list[dict[str, Any]]:
        customer_of = self.sim.customer_of
        out = []
        for s, at, category, channel, amount, kind, outcome in zip(
            drawn["shopper"],
            drawn["at"],
            drawn["category"],
            drawn["channel"],
            drawn["amount"],
            drawn["payment_kind"],
            drawn["outcome"],
            strict=True,
        ):
            self.next_order += 1
            out.append(
                {
                    "type": "order",
                    "event_id": f"mko-{self.next_order}",
                    "customer_id": int(customer_of[s]),
                    "occurred_at": at.isoformat(),
                    "category": str(category),
                    "channel": str(channel),
                    "amount": int(amount),
                    "payment_kind": str(kind),
                    "outcome": str(outcome),
                }
            )
        return out

    def _purchases(
        self, rng: np.random.Generator, day: int, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The simulator's purchases paid another way, as the marketplace records them."""
        shoppers = np.array([row["shopper"] for row in rows])
        k = len(rows)
        hour = rng.integers(8, 24, k)
        minute = rng.integers(0, 60, k)
        returned = rng.random(k) < self.habits.col("p_returned")[shoppers]
        instalment = rng.random(k) < self.habits.col("p_instalment")[shoppers]
        offset = [life.UTC_OFFSET.get(z, 8) for z in self.habits.col("timezone")[shoppers]]
        base = datetime.combine(self.sim.date_of(day), time(0), tzinfo=UTC)
        drawn = {
            "shopper": shoppers,
            "at": np.array(
                [
                    base + timedelta(hours=int(h) - o, minutes=int(m))
                    for h, m, o in zip(hour, minute, offset, strict=True)
                ],
                dtype=object,
            ),
            "category": np.array([self.sim.category[row["merchant"]] for row in rows]),
            "channel": np.array([row["channel"] for row in rows]),
            "amount": np.array([row["amount"] for row in rows], dtype=np.int64),
            "payment_kind": np.where(instalment, "instalment", "wallet"),
            "outcome": np.where(returned, "returned", "completed"),
        }
        return self._orders(drawn)

    def _engagement(
        self, rng: np.random.Generator, who: np.ndarray, week_start: date
    ) -> list[dict[str, Any]]:
        minutes = life.engagement_minutes(rng, self.habits, who)
        return [
            {
                "type": "engagement",
                "event_id": f"mke-{self.sim.customer_of[s]}-{week_start.isoformat()}",
                "customer_id": int(self.sim.customer_of[s]),
                "week_start": week_start.isoformat(),
                "live_watch_minutes": int(m),
            }
            for s, m in zip(who, minutes, strict=True)
        ]
