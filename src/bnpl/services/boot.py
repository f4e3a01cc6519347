"""Opening the platform: the runtime with the configured rule set and a model cache handed in."""

from __future__ import annotations

from sqlalchemy import Engine

from bnpl.credit.model_cache import ModelCache
from bnpl.risk.rules import RuleSet, load_default_rules, load_rules_file
from bnpl.runtime import Clock, Platform, Settings
from bnpl.services.business_days import BusinessCalendar


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
