"""Schema migrations (Alembic), run from code so `bnpl db upgrade` needs no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from bnpl.store.crypto import KeyRing

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # the config is an INI file: a "%" in the URL (e.g. ?options=-csearch_path%3D...) must be doubled
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, keys: KeyRing | None = None, revision: str = "head") -> None:
    """Migrate to ``revision``; a migration that seals data uses ``keys`` (default: the ring the
    environment configures)."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["keys"] = keys
        command.upgrade(cfg, revision)
