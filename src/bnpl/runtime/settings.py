"""Settings: everything configurable, from the environment, checked once at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from bnpl.domain.allocation import DEFAULT_WATERFALL, Waterfall
from bnpl.domain.contact_policy import ContactPolicy
from bnpl.domain.credit import CreditPolicy
from bnpl.domain.decision import DecisionPolicy
from bnpl.domain.delinquency import CollectionsPolicy
from bnpl.store.crypto import DEV_DATA_KEYS, DEV_LOOKUP_KEY, KeyRing

DEFAULT_TZ = "Asia/Shanghai"
PLACEHOLDER_SECRETS = {"", "changeme", "dev-admin-key", "dev-webhook-secret", "dev-marketplace-feed-secret"}


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///var/bnpl.db"
    environment: str = "development"  # development | production
    admin_key: str = "dev-admin-key"
    webhook_secret: str = "dev-webhook-secret"
    marketplace_feed_secret: str = "dev-marketplace-feed-secret"  # signs POST /marketplace/events
    # personal data at rest (store/crypto.py): ``id:base64key`` entries, the first one primary, and
    # the key of the keyed hashes; the defaults are published development keys
    data_keys: str = field(default=DEV_DATA_KEYS, repr=False)
    lookup_key: str = field(default=DEV_LOOKUP_KEY, repr=False)
    authorization_ttl_days: int = 7
    assumed_delivery_days: int = 10  # delivery assumed this long after shipment without a receipt
    timezone: str = DEFAULT_TZ
    business_date: date | None = None  # pin "today" (demo, tests, replays)
    # let actions bear a date after the open business date (the day after the last closed end of
    # day); each such date is audited. An operator's override, never a default
    allow_forward_dates: bool = False
    waterfall: Waterfall = DEFAULT_WATERFALL
    rules_path: str | None = "default"  # the packaged rule set; a YAML file; or None for no rules
    review_ttl_days: int = 2  # an order in review expires (hold released) if nobody decides
    decision_policy: DecisionPolicy = field(default_factory=DecisionPolicy)
    credit_policy: CreditPolicy = field(default_factory=CreditPolicy)
    collections: CollectionsPolicy = field(default_factory=CollectionsPolicy)
    contact_policy: ContactPolicy = field(default_factory=ContactPolicy)
    # console sign-in attempts a minute, from one client address and from all of them together;
    # past either, a 429 with Retry-After (and no password is checked)
    sign_ins_per_minute_per_source: int = 20
    sign_ins_per_minute: int = 100
    # requests per API key by role, or "off" (api/edge.py). Generous: a live stream sends one
    # merchant thousands of orders in minutes, and the benches push one merchant key to saturation
    rate_limit_admin: str = "1000/second"
    rate_limit_merchant: str = "4000/second;120000/minute"
    rate_limit_customer: str = "50/second;1000/minute"  # a shopper's app
    rate_limit_staff: str = "50/second;2000/minute"  # collections and risk staff
    rate_limit_storage: str = "memory://"  # per process; redis://host:6379/0 for one count across workers
    # group commit of checkouts and captures (api/group_commit.py), per server process: concurrent
    # requests are decided in batches of at most checkout_batch_max, in at most
    # checkout_batch_workers transactions at once (0: each request its own transaction); past
    # checkout_in_flight_max requests waiting or running, a request is shed at once (503)
    checkout_batch_max: int = 100
    checkout_batch_workers: int = 1  # measured: more than one per process contend for the GIL
    checkout_in_flight_max: int = 100
    # > 0: the batches are decided in this many processes forked from each server process (one
    # batch each at a time), not on its threads: no interpreter lock shared with the event loop
    checkout_processes: int = 0

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
            "marketplace_feed_secret",
            "timezone",
            "data_keys",
            "lookup_key",
            "rate_limit_admin",
            "rate_limit_merchant",
            "rate_limit_customer",
            "rate_limit_staff",
            "rate_limit_storage",
        ):
            if f"BNPL_{key.upper()}" in env:
                values[key] = env[f"BNPL_{key.upper()}"]
        for key in (
            "authorization_ttl_days",
            "assumed_delivery_days",
            "review_ttl_days",
            "sign_ins_per_minute_per_source",
            "sign_ins_per_minute",
            "checkout_batch_max",
            "checkout_batch_workers",
            "checkout_in_flight_max",
            "checkout_processes",
        ):
            if env.get(f"BNPL_{key.upper()}"):
                values[key] = int(env[f"BNPL_{key.upper()}"])
        if env.get("BNPL_BUSINESS_DATE"):
            values["business_date"] = date.fromisoformat(env["BNPL_BUSINESS_DATE"])
        if env.get("BNPL_ALLOW_FORWARD_DATES", "").lower() in ("1", "true", "yes"):
            values["allow_forward_dates"] = True
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
        if self.sign_ins_per_minute_per_source < 1 or self.sign_ins_per_minute < 1:
            raise ValueError(
                "BNPL_SIGN_INS_PER_MINUTE and BNPL_SIGN_INS_PER_MINUTE_PER_SOURCE must be at least 1"
            )
        if not 1 <= self.checkout_batch_max <= 500 or not 0 <= self.checkout_batch_workers <= 64:
            raise ValueError("BNPL_CHECKOUT_BATCH_MAX must be 1-500 and BNPL_CHECKOUT_BATCH_WORKERS 0-64")
        if not 0 <= self.checkout_processes <= 64:
            raise ValueError("BNPL_CHECKOUT_PROCESSES must be 0-64")
        if self.checkout_in_flight_max < 1:
            raise ValueError("BNPL_CHECKOUT_IN_FLIGHT_MAX must be at least 1")
        keys = self.keys  # parsed here, so a malformed key ring stops the start
        if self.environment != "development":
            for name in ("admin_key", "webhook_secret", "marketplace_feed_secret"):
                if getattr(self, name) in PLACEHOLDER_SECRETS:
                    raise ValueError(
                        f"BNPL_{name.upper()} must be set to a real secret in {self.environment}"
                    )
            if keys.development:
                raise ValueError(
                    f"BNPL_DATA_KEYS and BNPL_LOOKUP_KEY must be set to real keys in {self.environment}, "
                    "not the development ones (make them with `bnpl keys new`)"
                )

    @cached_property
    def keys(self) -> KeyRing:
        """The key ring that seals personal data, parsed once."""
        return KeyRing.parse(self.data_keys, self.lookup_key)
