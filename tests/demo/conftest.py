"""The demo book as `bnpl serve --demo` builds it (the real size: a season of a few thousand
shoppers up to yesterday), once per session in a temporary folder, with its keys."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from bnpl.app import create_app
from bnpl.demo import prepare
from bnpl.runtime import FixedClock, Platform, Settings
from bnpl.services.boot import migrate, open_platform


@dataclass
class DemoBook:
    folder: Path
    today: date  # the open business date the book was built for
    keys: dict[str, Any]

    @property
    def database(self) -> Path:
        return self.folder / "bnpl.db"

    def settings(self, database: Path | None = None) -> Settings:
        return Settings(database_url=f"sqlite:///{database or self.database}")

    def platform(self, day: date | None = None, database: Path | None = None) -> Platform:
        return open_platform(self.settings(database), clock=FixedClock(day or self.today))

    def copy(self, to: Path) -> Path:
        """A copy of the book to change (end of day, a tour) without touching the shared one."""
        to.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.database, to / "bnpl.db")
        shutil.copy(self.folder / "demo-keys.json", to / "demo-keys.json")
        return to / "bnpl.db"


@pytest.fixture(scope="session")
def demo_book(tmp_path_factory: pytest.TempPathFactory) -> DemoBook:
    folder = tmp_path_factory.mktemp("demo")
    today = date.today()
    platform = open_platform(
        Settings(database_url=f"sqlite:///{folder / 'bnpl.db'}"), clock=FixedClock(today)
    )
    migrate(platform)  # as `bnpl serve` opens its database before the demo is prepared
    prepare(platform, Console(quiet=True), folder / "demo-keys.json")
    platform.dispose()
    keys = json.loads((folder / "demo-keys.json").read_text())
    return DemoBook(folder, today, keys)


@pytest.fixture
def demo_client(demo_book: DemoBook) -> Iterator[TestClient]:
    platform = demo_book.platform()
    with TestClient(create_app(platform), base_url="http://127.0.0.1") as c:
        yield c
    platform.dispose()
