"""The model registry: versioned model artefacts with metadata, and which one is champion.

An artefact is written once and never changed; only its role moves (candidate → champion or shadow →
retired). Only a model trained on the platform's own features (``credit.features``, with or without
the marketplace feed's, ``credit.model_features``) may score checkouts, so a model trained on
another table (German credit, an analyst's CSV) can be evaluated and reported but not promoted.
Artefacts are JSON (a scorecard's points table, or LightGBM's own text model inside JSON): readable,
diffable, and safe to load, unlike pickle.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from bnpl.credit.gbm import GbmModel
from bnpl.credit.model_features import is_platform_model
from bnpl.credit.scorecard import Scorecard
from bnpl.domain.errors import InvalidInput, InvalidState, NotFound
from bnpl.store.tables import credit_models

Model = Scorecard | GbmModel
ROLES = ("candidate", "champion", "shadow", "retired")
KINDS: dict[str, type[Scorecard] | type[GbmModel]] = {"scorecard": Scorecard, "lightgbm": GbmModel}


def model_from_json(data: Mapping[str, Any]) -> Model:
    kind = data.get("kind")
    if kind not in KINDS:
        raise InvalidInput(f"unknown model kind {kind!r}")
    return KINDS[kind].from_json(data)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:24] or "data"


def register(
    conn: Connection, model: Model, dataset: str, meta: Mapping[str, Any], created_at: datetime
) -> str:
    """Store a trained model as a new candidate; returns its version, e.g. ``scorecard-german-3``."""
    prefix = f"{model.kind}-{_slug(dataset)}-"
    taken = conn.execute(
        select(func.count()).select_from(credit_models).where(credit_models.c.version.like(f"{prefix}%"))
    ).scalar_one()
    version = f"{prefix}{taken + 1}"
    meta = {
        **meta,
        "features": list(model.features),
        "platform_features": is_platform_model(model.features),
    }
    conn.execute(
        credit_models.insert().values(
            version=version,
            kind=model.kind,
            dataset=dataset,
            role="candidate",
            meta=meta,
            artefact=json.dumps(model.to_json(), separators=(",", ":")),
            created_at=created_at,
        )
    )
    return version


def describe(row: Any) -> dict[str, Any]:
    return {
        "version": row.version,
        "kind": row.kind,
        "dataset": row.dataset,
        "role": row.role,
        "created_at": row.created_at.isoformat(),
        "promoted_at": row.promoted_at.isoformat() if row.promoted_at else None,
        **{k: v for k, v in row.meta.items() if k != "features"},
        "n_features": len(row.meta.get("features", [])),
    }


_COLUMNS = [c for c in credit_models.c if c.name != "artefact"]


def entry(conn: Connection, version: str) -> dict[str, Any]:
    row = conn.execute(select(*_COLUMNS).where(credit_models.c.version == version)).first()
    if row is None:
        raise NotFound(f"no model {version!r}")
    return {**describe(row), "features": row.meta.get("features", [])}


def list_models(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(*_COLUMNS).order_by(credit_models.c.created_at, credit_models.c.version))
    return [describe(r) for r in rows]


def promote(conn: Connection, version: str, role: str, at: datetime) -> dict[str, Any]:
    """Make a model champion (the previous champion retires) or shadow, or retire it."""
    if role not in ("champion", "shadow", "retired"):
        raise InvalidInput("role must be champion, shadow or retired")
    current = entry(conn, version)
    if current["role"] == "champion" and role != "champion":
        # checkouts would silently fall back to the limit alone: replace a champion, never remove it
        raise InvalidState(f"{version} is the champion; promote another model to champion first")
    if role != "retired" and not current["platform_features"]:
        raise InvalidState(
            f"{version} was trained on {current['dataset']!r} columns, not the platform's credit "
            "features; only a model trained on platform features can score checkouts"
        )
    if role == "champion":
        conn.execute(
            update(credit_models)
            .where(credit_models.c.role == "champion", credit_models.c.version != version)
            .values(role="retired")
        )
    promoted = {"promoted_at": at} if role != "retired" else {}
    conn.execute(
        update(credit_models).where(credit_models.c.version == version).values(role=role, **promoted)
    )
    return entry(conn, version)


def scoring_versions(conn: Connection) -> tuple[str | None, tuple[str, ...]]:
    """The champion's version (or None) and the shadow models' versions."""
    rows = conn.execute(
        select(credit_models.c.version, credit_models.c.role).where(
            credit_models.c.role.in_(("champion", "shadow"))
        )
    ).all()
    champion = next((r.version for r in rows if r.role == "champion"), None)
    return champion, tuple(sorted(r.version for r in rows if r.role == "shadow"))
