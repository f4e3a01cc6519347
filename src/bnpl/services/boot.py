"""Opening the platform: the runtime with the configured rule set and a model cache handed in, and
its database created or brought up to date (the front ends never reach the store for either)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event

from bnpl.credit.model_cache import ModelCache
from bnpl.risk.rules import RuleSet, load_default_rules, load_rules_file
from bnpl.runtime import Clock, Platform, Settings
from bnpl.services.business_days import BusinessCalendar
from bnpl.store.db import make_engine
from bnpl.store.migrate import upgrade


def load_rule_set(path: str | None) -> RuleSet | None:
    """The packaged rule set ("default"), a YAML file, or none."""
    if not path:
        return None
    return load_default_rules() if path == "default" else load_rules_file(path)


def loaded_models(platform: Platform) -> ModelCache:
    """The platform's model cache (every platform opened here has one)."""
    if platform.models is None:
        raise RuntimeError("this platform was opened without a model cache")
    return platform.models


def open_platform(settings: Settings, clock: Clock | None = None, engine: Engine | None = None) -> Platform:
    return Platform(
        settings,
        clock,
        engine,
        rules=load_rule_set(settings.rules_path),
        models=ModelCache(),
        calendar=BusinessCalendar(),
    )


def migrate(platform: Platform) -> None:
    """Create the schema or bring it up to date (Alembic): zero set-up, the schema follows the code,
    sealing any plain personal data with the platform's keys."""
    upgrade(platform.engine, platform.settings.keys)


def open_scratch_platform(settings: Settings, clock: Clock | None = None) -> Platform:
    """A platform on a fresh, migrated SQLite database that is scratch output (the simulator's
    season): a crash would simply rerun it, so its connections skip the fsyncs."""
    engine = make_engine(settings.database_url)
    upgrade(engine)
    _skip_fsync(engine)
    return open_platform(settings, clock, engine)


def _skip_fsync(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _fast(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        cur.close()

    engine.dispose()  # connections made from now on get the pragma
