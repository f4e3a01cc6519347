"""Settings, the business clock, who is acting, and the unit of work every use case runs in."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from bnpl.domain.allocation import DEFAULT_WATERFALL, Waterfall
from bnpl.domain.contact_policy import ContactPolicy
from bnpl.domain.credit import CreditPolicy
from bnpl.domain.decision import DecisionPolicy
from bnpl.domain.delinquency import CollectionsPolicy
from bnpl.domain.errors import Forbidden
from bnpl.store.db import in_transaction, make_engine

if TYPE_CHECKING:
    from bnpl.credit.model_cache import ModelCache
    from bnpl.risk.rules import RuleSet

T = TypeVar("T")

DEFAULT_TZ = "Asia/Shanghai"
PLACEHOLDER_SECRETS = {"", "changeme", "dev-admin-key", "dev-webhook-secret"}


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///var/bnpl.db"
    environment: str = "development"  # development | production
    admin_key: str = "dev-admin-key"
    webhook_secret: str = "dev-webhook-secret"
    authorization_ttl_days: int = 7
    assumed_delivery_days: int = 10  # delivery assumed this long after shipment without a receipt
    timezone: str = DEFAULT_TZ
    business_date: date | None = None  # pin "today" (demo, tests, replays)
    waterfall: Waterfall = DEFAULT_WATERFALL
    rules_path: str | None = "default"  # the packaged rule set; a YAML file; or None for no rules
    review_ttl_days: int = 2  # an order in review expires (hold released) if nobody decides
    decision_policy: DecisionPolicy = field(default_factory=DecisionPolicy)
    credit_policy: CreditPolicy = field(default_factory=CreditPolicy)
    collections: CollectionsPolicy = field(default_factory=CollectionsPolicy)
    contact_policy: ContactPolicy = field(default_factory=ContactPolicy)
    # requests per API key by role, or "off" (api/edge.py). Generous: a live stream sends one
    # merchant thousands of orders in minutes, and the benches push one merchant key to saturation
    rate_limit_admin: str = "1000/second"
    rate_limit_merchant: str = "2000/second;60000/minute"
    rate_limit_customer: str = "50/second;1000/minute"  # a shopper's app
    rate_limit_staff: str = "50/second;2000/minute"  # collections and risk staff
    rate_limit_storage: str = "memory://"  # per process; redis://host:6379/0 for one count across workers

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {}
        if "BNPL_DATABASE_URL" in env:
            values["database_url"] = env["BNPL_DATABASE_URL"]
        for key in (
            "environment",
            "admin_key",
            "webhook_secret",
            "timezone",
            "rate_limit_admin",
            "rate_limit_merchant",
            "rate_limit_customer",
            "rate_limit_staff",
            "rate_limit_storage",
        ):
            if f"BNPL_{key.upper()}" in env:
                values[key] = env[f"BNPL_{key.upper()}"]
        for key in ("authorization_ttl_days", "assumed_delivery_days", "review_ttl_days"):
            if env.get(f"BNPL_{key.upper()}"):
                values[key] = int(env[f"BNPL_{key.upper()}"])
        if env.get("BNPL_BUSINESS_DATE"):
            values["business_date"] = date.fromisoformat(env["BNPL_BUSINESS_DATE"])
        if "BNPL_RULES" in env:  # a path, "default", or "none"
            values["rules_path"] = None if env["BNPL_RULES"].lower() == "none" else env["BNPL_RULES"]
        if env.get("BNPL_WATERFALL"):  # e.g. "obligation_first" or "component_first"
            values["waterfall"] = Waterfall(walk=env["BNPL_WATERFALL"])  # type: ignore[arg-type]
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse placeholder secrets outside development, and nonsense values anywhere."""
        if self.waterfall.walk not in ("obligation_first", "component_first"):
            raise ValueError("BNPL_WATERFALL must be obligation_first or component_first")
        if not 0 < self.authorization_ttl_days <= 90 or not 0 <= self.assumed_delivery_days <= 60:
            raise ValueError("BNPL_AUTHORIZATION_TTL_DAYS must be 1-90 and BNPL_ASSUMED_DELIVERY_DAYS 0-60")
        if not 0 < self.review_ttl_days <= 30:
            raise ValueError("BNPL_REVIEW_TTL_DAYS must be 1-30")
        if self.environment != "development":
            for name in ("admin_key", "webhook_secret"):
                if getattr(self, name) in PLACEHOLDER_SECRETS:
                    raise ValueError(
                        f"BNPL_{name.upper()} must be set to a real secret in {self.environment}"
                    )


class Clock(Protocol):
    def today(self) -> date: ...
    def now(self) -> datetime: ...


class SystemClock:
    """Business date is the calendar date in the platform's time zone."""

    def __init__(self, tz: str = DEFAULT_TZ) -> None:
        self.tz = ZoneInfo(tz)

    def today(self) -> date:
        return datetime.now(self.tz).date()

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A business date that tests and the simulator move by hand. Timestamps fall on that date
    (at the real time of day), so time windows such as velocity follow the business clock."""

    def __init__(self, day: date) -> None:
        self.day = day

    def today(self) -> date:
        return self.day

    def now(self) -> datetime:
        return datetime.combine(self.day, datetime.now(UTC).time(), tzinfo=UTC)

    def advance(self, days: int = 1) -> date:
        self.day += timedelta(days=days)
        return self.day


@dataclass(frozen=True)
class Actor:
    role: str  # admin | merchant | customer | provider | system
    subject_id: int | None = None

    def __str__(self) -> str:
        return self.role if self.subject_id is None else f"{self.role}:{self.subject_id}"

    def require(self, *roles: str) -> None:
        if self.role not in roles and self.role != "admin":
            raise Forbidden(f"{self.role} may not do this")


SYSTEM = Actor("system")
ADMIN = Actor("admin")


@dataclass
class Ctx:
    """One unit of work: a transaction, the business date, and who is acting."""

    conn: Connection
    today: date
    now: datetime
    actor: Actor
    settings: Settings
    rules: RuleSet | None = None
    models: ModelCache | None = None  # loaded credit models; None: no credit assessment at all


def load_rule_set(path: str | None) -> RuleSet | None:
    if not path:
        return None
    from bnpl.risk.rules import load_default_rules, load_rules_file

    return load_default_rules() if path == "default" else load_rules_file(path)


class Platform:
    """The running system: engine, clock and settings. Front ends ask it for units of work."""

    def __init__(self, settings: Settings, clock: Clock | None = None, engine: Engine | None = None) -> None:
        self.settings = settings
        if clock is None:
            clock = (
                FixedClock(settings.business_date)
                if settings.business_date
                else SystemClock(settings.timezone)
            )
        self.clock = clock
        self.engine = engine or make_engine(settings.database_url)
        self.rules = load_rule_set(settings.rules_path)
        from bnpl.credit.model_cache import ModelCache

        self.models = ModelCache()

    def run(self, actor: Actor, work: Callable[[Ctx], T]) -> T:
        """Run ``work`` in one transaction (committed on success, retried on serialisation failure)."""
        today, now = self.clock.today(), self.clock.now()
        return in_transaction(
            self.engine,
            lambda conn: work(Ctx(conn, today, now, actor, self.settings, self.rules, self.models)),
        )

    @contextmanager
    def read(self, actor: Actor = SYSTEM) -> Iterator[Ctx]:
        with self.engine.connect() as conn:
            yield Ctx(
                conn, self.clock.today(), self.clock.now(), actor, self.settings, self.rules, self.models
            )

    def dispose(self) -> None:
        self.engine.dispose()
