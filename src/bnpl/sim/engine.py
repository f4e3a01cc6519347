"""Run a season of the simulated marketplace through the real platform.

Every checkout is ``orders.authorize`` (policy, rules, the champion model, limits), every shipment
``capture``, every receipt ``deliver``, every return ``request_return`` + ``confirm_return``, every
payment ``repayments.repay``, every call an agent's ``contacts.contact`` through the contact policy,
and every night ``bnpl.eod.run_eod``. The simulator only plays the people: shoppers (with
the hidden traits of ``population``), merchants shipping and taking goods back, an analyst on the
review queue and the collections desk. What the platform cannot see — the true PD of each loan,
its drawn fate, the control group's purchases — is kept in :class:`Truth` beside the database.

What the shoppers want and buy is ``sim/shopping``; the season's config, clock and truth are
``sim/state``.

Deterministic for a seed: the clock's time of day is set by the simulator, and the random numbers
of each day and purpose come from their own stream (``seed, day, purpose``), so two policies run on
the same world see the same shoppers wanting the same things on the same days.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from bnpl.collections import cases as case_service
from bnpl.collections import contacts as contact_service
from bnpl.collections import visits as visit_service
from bnpl.collections import work as collections_work
from bnpl.credit.dataset import DatasetError
from bnpl.credit.evaluate import cross_validate
from bnpl.credit.platform_data import platform_dataset
from bnpl.credit.registry import Model
from bnpl.credit.selection import recommend
from bnpl.credit.synthetic import synthetic
from bnpl.domain.errors import DomainError
from bnpl.domain.field_visits import CONDUCT
from bnpl.eod import run_eod
from bnpl.runtime import ADMIN, Actor, Settings
from bnpl.services import credit as credit_service
from bnpl.services import model_registry, parties, queries, repayments
from bnpl.services import orders as order_service
from bnpl.services.boot import open_scratch_platform
from bnpl.sim import behaviour as bh
from bnpl.sim.feed import MarketplaceFeed
from bnpl.sim.pilot import PILOT_SHOPPERS, pilot_dataset
from bnpl.sim.policy import SimPolicy
from bnpl.sim.population import World, generate
from bnpl.sim.shopping import shop
from bnpl.sim.state import Loan, Truth
from bnpl.sim.state import SimClock as SimClock  # the season's clock and config, named here too
from bnpl.sim.state import SimConfig as SimConfig

DB_NAME = "bnpl-sim.db"
RESCORE_EVERY = 14  # days between rescorings of the whole population (the risk team's cadence)
LIMIT_REVIEW_EVERY = 30
# the risk team retrains on the platform's own matured orders every 30 days, once there are enough,
# and promotes by the selection rule (``bnpl model train --dataset platform`` then ``promote --best``)
RETRAIN_EVERY = 30
RETRAIN_MIN_ORDERS, RETRAIN_MIN_BAD = 500, 25  # fewer: the rule keeps the champion in service


def sim_engine(out: Path) -> str:
    """A fresh SQLite file in ``out`` for the season (a previous run's is replaced)."""
    out.mkdir(parents=True, exist_ok=True)
    db = out / DB_NAME
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{db}"


@dataclass(frozen=True)
class StartingModel:
    """The champion a season starts with, and the table it was fitted on."""

    model: Model
    dataset: str
    meta: dict[str, Any] = field(default_factory=dict)  # how it was chosen


def pilot_size(customers: int) -> int:
    """A pilot of twice the season's shoppers, 4,000 to 20,000."""
    return max(4_000, min(PILOT_SHOPPERS, 2 * customers))


@lru_cache(maxsize=4)  # a fitted model is never changed: seasons of one seed share it
def champion_model(seed: int, feed: bool = True, pilot: int = PILOT_SHOPPERS) -> StartingModel:
    """The model the platform starts a season with (it has no history of its own yet). With the
    marketplace feed: the scorecard and LightGBM cross-validated on a pilot cohort's feed
    (``sim/pilot.py``, ``pilot`` shoppers) on the same folds, and the one the selection rule
    recommends (``credit.selection``), as ``bnpl model evaluate`` would. Without it: a scorecard
    on the generated training table (``credit.synthetic``), the platform as it was."""
    fits = model_registry.learners()
    if not feed:
        return StartingModel(fits["scorecard"](synthetic(20_000, seed)), "synthetic")
    ds = pilot_dataset(seed, shoppers=pilot)
    folds, seed_ = model_registry.CV_FOLDS, model_registry.CV_SEED
    cv = cross_validate(ds, dict(fits.items()), n_splits=folds, n_repeats=1, seed=seed_)
    pick = recommend(cv, {name: name for name in fits}, bar=None)
    meta = {"metrics": cv[pick.name], "fingerprint": ds.fingerprint, "selection": pick.reason}
    return StartingModel(fits[pick.name](ds), "pilot", meta)


class Simulation:
    def __init__(
        self, config: SimConfig, policy: SimPolicy, out: Path, model: StartingModel | None = None
    ) -> None:
        self.config, self.policy, self.out = config, policy, out
        self.world: World = generate(config.customers, config.seed, config.shape)
        self.clock = SimClock(config.start - timedelta(days=400))
        settings = Settings(
            database_url=sim_engine(out),
            rules_path=policy.rules,
            credit_policy=policy.credit,
            collections=policy.collections,
        )
        self.platform = open_scratch_platform(settings, clock=self.clock)
        self.truth = Truth()
        self.model = (
            model
            if model is not None
            else champion_model(config.seed, policy.marketplace_feed, pilot_size(config.customers))
        )
        n = config.customers
        self.customer_of = np.full(n, -1, dtype=np.int64)  # platform customer id of each shopper
        self.shopper_of: dict[int, int] = {}
        self.engagement = np.ones(n)
        self.stressed_until = np.full(n, -1, dtype=np.int64)
        setup = np.random.default_rng([config.seed, 0])
        self.control = setup.random(n) < config.behaviour.control_share
        self.follows = setup.choice(
            len(self.world.creators),
            size=n,
            p=(f := self.world.creators["followers"].to_numpy(float)) / f.sum(),
        )
        self.stolen_on = np.where(
            self.world.shoppers["fraud"].to_numpy() == "stolen",
            setup.integers(min(10, config.days - 1), max(config.days - 10, min(10, config.days - 1) + 1), n),
            -1,
        )
        self.mdr_bps = setup.integers(100, 301, len(self.world.merchants))
        self.merchant_ids: list[int] = []
        # plain lists for the per-order path (a pandas row lookup costs ~100 µs)
        self.category = self.world.merchants["category"].tolist()
        self.device = self.world.shoppers["device_id"].tolist()
        self.address = self.world.shoppers["address"].tolist()
        self.agent_ids: list[int] = []
        self.ship_on: dict[int, int] = {}  # order id -> day it ships
        self.deliver_on: dict[int, int] = {}
        self.return_on: dict[int, int] = {}
        self.promised: dict[int, int] = {}  # customer id -> day a promised payment comes
        self.visits: dict[int, int] = {}  # approved field visit id -> the day of its slot
        self.visit_asked: set[int] = set()  # cases with a visit requested
        self.intent_of: dict[int, dict[str, Any]] = {}  # order id -> the intent row it came from
        self.supervisor_id: int | None = None
        self.field_agent_ids: list[int] = []
        self.contacts: dict[int, Counter[str]] = {}  # customer id -> yesterday's contacts by channel
        self._setup()
        # the host marketplace: consent and its data feed (none under a policy without the feed)
        self.feed = MarketplaceFeed(self) if policy.marketplace_feed else None
        if self.feed is not None:
            self.feed.before_season()

    # --- set-up ---------------------------------------------------------------------------------

    def _setup(self) -> None:
        p = self.platform
        for i, m in enumerate(self.world.merchants.itertuples()):
            made = p.run(
                ADMIN,
                partial(
                    parties.create_merchant,
                    name=f"Shop {i + 1} ({m.category})",
                    mdr_bps=int(self.mdr_bps[i]),
                    categories=[m.category],
                ),
            )
            self.merchant_ids.append(made["id"])
        shoppers = self.world.shoppers
        people = [
            parties.NewCustomer(
                name=f"Shopper {i + 1}",
                credit_limit=self.policy.onboarding_limit,
                timezone=tz,
                phone=f"+86 139 {i % 10_000:04d} {i // 10_000 % 10_000:04d}",  # generated, not anyone's
                address=address,
            )
            for i, (tz, address) in enumerate(zip(shoppers["timezone"], shoppers["address"], strict=True))
        ]
        for first in range(0, len(people), 5_000):
            opened = p.run(ADMIN, partial(parties.open_accounts, people=people[first : first + 5_000]))
            for offset, (customer_id, _key) in enumerate(opened):
                self.customer_of[first + offset] = customer_id
                self.shopper_of[customer_id] = first + offset
        start = self.model

        def champion(ctx: Any) -> None:
            version = model_registry.register_model(
                ctx, start.model, start.dataset, {"source": {"dataset": start.dataset}, **start.meta}
            )
            model_registry.change_role(ctx, version, "champion")

        p.run(ADMIN, champion)
        for i in range(self.policy.agents):
            made = p.run(
                ADMIN,
                partial(
                    case_service.create_agent,
                    name=f"Agent {i + 1}",
                    role="agent",
                    skills=["M1", "M2", "M3", "M3+"],
                ),
            )
            self.agent_ids.append(made["id"])
        if self.policy.field_visits:
            crew = [
                ("Supervisor", "supervisor"),
                ("Field agent A", "field_agent"),
                ("Field agent B", "field_agent"),
            ]
            self.supervisor_id, *self.field_agent_ids = [
                p.run(
                    ADMIN,
                    partial(case_service.create_agent, name=name, role=role, skills=["M2", "M3", "M3+"]),
                )["id"]
                for name, role in crew
            ]
        if self.policy.agents:
            p.run(
                ADMIN,
                partial(
                    case_service.create_agent,
                    name="Specialist",
                    role="specialist",
                    skills=["M1", "M2", "M3", "M3+"],
                ),
            )

    # --- the season -----------------------------------------------------------------------------

    def run(self, on_day: Callable[[int], None] | None = None) -> Truth:
        for day in range(self.config.days):
            self.day(day)
            if on_day:
                on_day(day)
        return self.truth

    def date_of(self, day: int) -> date:
        return self.config.start + timedelta(days=day)

    def rng(self, day: int, purpose: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, day + 1, purpose])

    def day(self, day: int) -> None:
        today = self.date_of(day)
        self.clock.set_time(today, 2)  # 10:00: merchants ship and deliver, customers pay
        if self.feed is not None:
            self.feed.morning(day)  # the marketplace sends yesterday's records
        self._merchants(day)
        self._payments(day)
        self.clock.set_time(today, 2, 30)  # 10:30: the analyst decides the review queue
        if self.policy.analyst_reviews:
            self._reviews(day)
        self.clock.set_time(today, 3)  # 11:00: the desk calls, the supervisor decides, visits happen
        self._desk(day)
        self._field_visits(day)
        first_intent = len(self.truth.intents)
        shop(self, day)
        if self.feed is not None:
            self.feed.after_shopping(day, first_intent)
        self.clock.set_time(today, 15)  # 23:00: end of day
        run_eod(self.platform)
        self._read_contacts(today)
        if day % RESCORE_EVERY == RESCORE_EVERY - 1:
            credit_service.rescore(self.platform)
        if day % RETRAIN_EVERY == RETRAIN_EVERY - 1:
            self._retrain()
        if day % LIMIT_REVIEW_EVERY == LIMIT_REVIEW_EVERY - 1:
            credit_service.review_limits(self.platform, self.policy.credit)

    def _retrain(self) -> None:
        """Train on the matured orders so far and promote by the rule, when there are enough."""
        with self.platform.read() as c:
            try:
                ds = platform_dataset(c.conn, c.now)
            except DatasetError:  # nothing has matured yet
                return
            as_of = c.now
        if len(ds.bad) < RETRAIN_MIN_ORDERS or int(ds.bad.sum()) < RETRAIN_MIN_BAD:
            return
        model_registry.train(self.platform, ds, {"dataset": "platform", "as_of": as_of.isoformat()})
        promoted = model_registry.promote_best(self.platform, "platform")
        self.truth.retrained.append({"as_of": as_of.isoformat(), "rows": len(ds.bad), **promoted})

    # --- merchants: ship, deliver, take goods back ----------------------------------------------

    def _merchants(self, day: int) -> None:
        p = self.platform
        for order_id in [o for o, d in self.ship_on.items() if d == day]:
            del self.ship_on[order_id]
            loan = self.truth.loans[order_id]
            merchant = Actor("merchant", self.merchant_ids[loan.merchant])
            if self.attempt(merchant, partial(order_service.capture, order_id=order_id)):
                rng = self.rng(day, 1_000_000 + order_id)
                if rng.random() < 0.85:  # the rest wait for end of day to assume delivery
                    self.deliver_on[order_id] = day + int(rng.integers(2, 5))
        for order_id in [o for o, d in self.deliver_on.items() if d == day]:
            del self.deliver_on[order_id]
            loan = self.truth.loans[order_id]
            merchant = Actor("merchant", self.merchant_ids[loan.merchant])
            if self.attempt(merchant, partial(order_service.deliver, order_id=order_id)):
                self._maybe_return(day, loan)
        for order_id in [o for o, d in self.return_on.items() if d == day]:
            del self.return_on[order_id]
            loan = self.truth.loans[order_id]
            customer = Actor("customer", loan.customer_id)
            with p.read(customer) as ctx:  # what the shopper's app shows them they still have
                held = order_service.get_order(ctx, order_id)["items"]
            items = {
                i["sku"]: left
                for i in held
                if (left := i["quantity"] - i["returned_quantity"] - i["pending_quantity"]) > 0
            }
            ret = self.attempt(
                customer,
                partial(order_service.request_return, order_id=order_id, items=items, reason="not as hoped"),
            )
            if ret:
                merchant = Actor("merchant", self.merchant_ids[loan.merchant])
                self.attempt(merchant, partial(order_service.confirm_return, return_id=ret["id"]))

    def _maybe_return(self, day: int, loan: Loan) -> None:
        if loan.fraud != "none":
            return
        m = self.world.merchants
        rng = self.rng(day, 2_000_000 + loan.order_id)
        goes_back = bh.returns(
            rng,
            m["return_rate"].to_numpy()[[loan.merchant]],
            m["quality"].to_numpy()[[loan.merchant]],
            self.config.behaviour,
        )
        if goes_back[0]:
            self.return_on[loan.order_id] = day + int(rng.integers(1, 6))

    def attempt(self, actor: Actor, work: Callable[..., Any]) -> Any:
        """A call the simulated person makes; the platform saying no is part of the story."""
        try:
            return self.platform.run(actor, work)
        except DomainError as exc:
            name = getattr(work, "func", work).__name__
            self.truth.refused[f"{name}: {type(exc).__name__}"] += 1
            return None

    # --- shoppers pay (or do not) ---------------------------------------------------------------

    def _payments(self, day: int) -> None:
        today = self.date_of(day)
        with self.platform.read(ADMIN) as ctx:
            rows = queries.bills_due_by(ctx, today + timedelta(days=3))
        bills: dict[int, list[Any]] = {}
        for r in rows:
            bills.setdefault(r.order_id, []).append(r)
        behaviour = self.config.behaviour
        shoppers = self.world.shoppers
        # customers with a bad loan overdue: do they cure today?
        overdue_bad: dict[int, bool] = {}  # customer id -> is it fraud?
        for order_id, due in bills.items():
            loan = self.truth.loans.get(order_id)
            if loan and loan.bad and not loan.cured and due[0].due_date < today:
                overdue_bad[loan.customer_id] = (
                    overdue_bad.get(loan.customer_id, False) or loan.fraud != "none"
                )
        bad_customers = sorted(overdue_bad)
        cured: set[int] = set()
        if bad_customers:
            worth = shoppers["worth"].to_numpy()[[self.shopper_of[c] for c in bad_customers]]
            fraud = np.array([overdue_bad[c] for c in bad_customers])
            chance = bh.cure_chance(
                worth, [self.contacts.get(c, Counter()) for c in bad_customers], fraud, behaviour
            )
            draws = self.rng(day, 3).random(len(bad_customers))
            for c, ch, u in zip(bad_customers, chance, draws, strict=True):
                if u < ch or (self.promised.get(c) == day and not overdue_bad[c]):
                    cured.add(c)
        for order_id, due in bills.items():
            loan = self.truth.loans.get(order_id)
            if loan is None:
                continue
            if loan.customer_id in cured and loan.bad:
                loan.cured, loan.lag = True, max(loan.lag, 0)
            first = due[0]
            stopped = (
                loan.bad and not loan.cured and first.kind == "instalment" and first.seq >= loan.bad_from
            )
            if stopped or (loan.bad and not loan.cured and first.kind == "late_fee"):
                continue
            if today < first.due_date + timedelta(days=loan.lag):
                continue
            horizon = max(today, first.due_date)
            amount = sum(b.owed for b in due if b.due_date <= horizon)
            if amount > 0:
                self.attempt(
                    Actor("provider"),
                    partial(
                        repayments.repay,
                        customer_id=loan.customer_id,
                        amount=int(amount),
                        provider_ref=f"sim-{order_id}-{day}",
                        source="app",
                        order_id=order_id,
                    ),
                )

    # --- the analyst and the collections desk ---------------------------------------------------

    def _reviews(self, day: int) -> None:
        with self.platform.read(ADMIN) as ctx:
            waiting = queries.order_ids_in_status(ctx, "review")
        rng = self.rng(day, 4)
        for order_id in waiting:
            loan = self.truth.loans.get(order_id)
            if loan is None:
                continue
            # an analyst looks closer: most fraud shows itself, most honest orders pass
            approve = rng.random() < (0.3 if loan.fraud != "none" else 0.85)
            done = self.attempt(
                ADMIN,
                partial(
                    order_service.decide_review, order_id=order_id, approve=approve, note="simulated analyst"
                ),
            )
            if done and approve:
                self.ship_on[order_id] = day + 1
                intent = self.intent_of.get(order_id)
                if intent is not None:
                    intent["bnpl"] = intent["purchased"] = True

    def _desk(self, day: int) -> None:
        today = self.date_of(day)
        rng = self.rng(day, 5)
        for agent_id in self.agent_ids:
            actor = Actor("agent", agent_id)
            work = self.attempt(
                actor, partial(collections_work.queue, agent_id=agent_id, limit=self.policy.calls_per_agent)
            )
            asks = self._visit_problems(work or [])
            for case in work or []:
                if case["id"] in asks and not asks[case["id"]]:
                    # the strategy suggests a visit: the agent asks the supervisor for one
                    self.attempt(
                        actor,
                        partial(
                            visit_service.request_visit,
                            case_id=case["id"],
                            agent_id=agent_id,
                            reason="no payment after calls and letters",
                        ),
                    )
                    self.visit_asked.add(case["id"])
                if not any(t["channel"] == "call" for t in case["tasks"]):
                    continue
                outcome = str(rng.choice(["reached", "no_answer", "left_message"], p=[0.45, 0.4, 0.15]))
                made = self.attempt(
                    actor,
                    partial(
                        contact_service.contact,
                        case_id=case["id"],
                        agent_id=agent_id,
                        template_id="collect_call",
                        outcome=outcome,
                    ),
                )
                if made and made["allowed"] and outcome == "reached" and rng.random() < 0.5:
                    due_on = today + timedelta(days=3)
                    promised = self.attempt(
                        actor,
                        partial(
                            collections_work.promise,
                            case_id=case["id"],
                            amount=int(case["overdue_amount"]),
                            due_on=due_on,
                            agent_id=agent_id,
                        ),
                    )
                    if promised and rng.random() < self.config.behaviour.promise_kept:
                        self.promised[case["customer_id"]] = day + 3

    def _visit_problems(self, cases: list[dict[str, Any]]) -> dict[int, list[str]]:
        """For the cases of a queue where the strategy suggests a visit not yet asked for, what the
        field-visit rule has against one (none: the agent asks the supervisor)."""
        suggested = [
            case["id"]
            for case in cases
            if self.field_agent_ids
            and case["id"] not in self.visit_asked
            and any(t["channel"] == "field_visit" for t in case["tasks"])
        ]
        if not suggested:
            return {}
        with self.platform.read(ADMIN) as ctx:
            return visit_service.request_problems_by_id(ctx, suggested)

    def _field_visits(self, day: int) -> None:
        """The supervisor approves the requests made so far for a slot three days on (10:00 local,
        both field agents); on the day the agents go and record what happened."""
        if self.supervisor_id is None:
            return
        today, rng = self.date_of(day), self.rng(day, 7)
        with self.platform.read(ADMIN) as ctx:
            waiting = queries.visit_ids_in_status(ctx, "requested")
        supervisor = Actor("supervisor", self.supervisor_id)
        a, b = self.field_agent_ids
        for visit_id in waiting:
            approved = self.attempt(
                supervisor,
                partial(
                    visit_service.approve_visit,
                    visit_id=visit_id,
                    supervisor_id=self.supervisor_id,
                    agent_a=a,
                    agent_b=b,
                    slot=datetime.combine(today + timedelta(days=3), time(10)),  # local time
                ),
            )
            if approved:
                self.visits[visit_id] = day + 3
        for visit_id in [v for v, d in self.visits.items() if d == day]:
            del self.visits[visit_id]
            outcome = str(rng.choice(["met", "not_home", "promise"], p=[0.5, 0.3, 0.2]))
            done = self.attempt(
                Actor("field_agent", a),
                partial(
                    visit_service.record_outcome,
                    visit_id=visit_id,
                    agent_id=a,
                    outcome=outcome,
                    checklist=dict.fromkeys(CONDUCT, True),
                    promise_amount=5_000 if outcome == "promise" else None,
                    promise_date=today + timedelta(days=3) if outcome == "promise" else None,
                ),
            )
            if done and outcome == "promise" and rng.random() < self.config.behaviour.promise_kept:
                self.promised[done["customer_id"]] = day + 3

    def _read_contacts(self, today: date) -> None:
        """What reached each customer today (sends, conversations): tomorrow's nudge to pay."""
        with self.platform.read(ADMIN) as ctx:
            rows = queries.contacts_made_on(ctx, today)
        self.contacts = {}
        for r in rows:
            if r.channel in ("call", "field_visit") and not r.reached:
                continue  # a missed call or nobody at home nudges nobody
            self.contacts.setdefault(r.customer_id, Counter())[r.channel] += 1
