"""Loaded credit models by version, one cache per running platform.

Light on purpose: every `bnpl` command and server process builds a platform, and most never score
anyone, so the model libraries are imported on the first load, not at start-up.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import Connection

from bnpl.domain.errors import NotFound
from bnpl.store.tables import credit_models

if TYPE_CHECKING:
    from bnpl.credit.registry import Model


class ModelCache:
    """Artefacts never change, so a version once loaded stays valid."""

    def __init__(self) -> None:
        self._models: dict[str, Model] = {}
        self._lock = threading.Lock()

    def get(self, conn: Connection, version: str) -> Model:
        model = self._models.get(version)
        if model is None:
            from bnpl.credit.registry import model_from_json

            text = conn.execute(
                select(credit_models.c.artefact).where(credit_models.c.version == version)
            ).scalar_one_or_none()
            if text is None:
                raise NotFound(f"no model {version!r}")
            model = model_from_json(json.loads(text))
            with self._lock:
                self._models[version] = model
        return model
