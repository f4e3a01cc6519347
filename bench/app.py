"""The API app for bench/authorize.py: the real application on the benchmark's own schema."""

from __future__ import annotations

import os

from bnpl.app import create_app
from bnpl.runtime import Settings
from bnpl.services.boot import open_platform
from bnpl.store.db import make_engine

_url = os.environ["BNPL_BENCH_URL"]
app = create_app(
    open_platform(
        Settings.from_env(database_url=_url),
        engine=make_engine(_url, pool_size=20, schema=os.environ["BNPL_BENCH_SCHEMA"]),
    )
)
