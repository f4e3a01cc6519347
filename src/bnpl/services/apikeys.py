"""API keys through their life: issued when a merchant, customer or collections agent is added
(``apikeys.issue_key``; only the SHA-256 is stored, the key is shown once), rotated (every key the
holder has stops working and one new key is shown once), revoked (every key of the holder stops,
none replaces it); and collections agents disabled (their key stops while they are) or enabled.

The holder may rotate or revoke their own key; an admin anyone's. The admin key is configuration
(``BNPL_ADMIN_KEY``), not a row here. Every change is audited on the holder's stream
(``merchant:N``, ``customer:N``, ``agent:N``) without the key or its hash.

A key is looked up on each request unless the API process has it cached (``api.deps.KeyCache``):
the API forgets its cache when it makes one of these changes, so in that process the old key is
refused at once; another process may accept it until its cache entry expires
(``KEY_CACHE_SECONDS``).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import select

from bnpl.domain.errors import Forbidden, InvalidInput, NotFound
from bnpl.runtime import Actor, Ctx
from bnpl.services import audit
from bnpl.services.credit_lines import lock_account
from bnpl.store.tables import api_keys, collection_agents, merchants

KINDS = ("merchant", "customer", "agent")
AGENT_KEY_ROLES = ("agent", "specialist", "field_agent", "supervisor")
KEY_CACHE_SECONDS = 30  # how long an API process trusts a key it has looked up once


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_key(role: str) -> str:
    return f"{role[0]}k_{secrets.token_urlsafe(24)}"


def issue_key(ctx: Ctx, role: str, subject_id: int | None) -> str:
    """A new API key; only its hash is stored, so the raw key is shown once. Rotation, revocation
    and the look-up of a key's holder are ``services.apikeys``."""
    raw = new_key(role)
    ctx.conn.execute(
        api_keys.insert().values(key_hash=hash_key(raw), role=role, subject_id=subject_id, created_at=ctx.now)
    )
    return raw


def actor_for_key(ctx: Ctx, raw: str) -> Actor | None:
    """The holder of an API key that is neither revoked nor an inactive agent's; None otherwise."""
    k, a = api_keys.c, collection_agents.c
    row = ctx.conn.execute(
        select(k.role, k.subject_id, a.active)
        .outerjoin(collection_agents, (a.id == k.subject_id) & k.role.in_(AGENT_KEY_ROLES))
        .where(k.key_hash == hash_key(raw), k.revoked_at.is_(None))
    ).first()
    if row is None or (row.role in AGENT_KEY_ROLES and not row.active):
        return None
    return Actor(row.role, row.subject_id)


def _holder(ctx: Ctx, kind: str, subject_id: int) -> tuple[str, tuple[str, ...]]:
    """Check the caller may change this holder's keys and lock the holder; returns the role a new
    key carries and the roles its keys may have."""
    if kind not in KINDS:
        raise InvalidInput(f"a key belongs to one of {', '.join(KINDS)}")
    actor = ctx.actor
    own_roles = AGENT_KEY_ROLES if kind == "agent" else (kind,)
    if actor.role != "admin" and not (actor.role in own_roles and actor.subject_id == subject_id):
        if actor.role in own_roles:  # another holder of the same kind: do not tell it exists
            raise NotFound(f"{kind} {subject_id} not found")
        raise Forbidden(f"a {actor.role} may not change a {kind}'s API keys")
    if kind == "customer":
        lock_account(ctx, subject_id)  # the customer's first lock, and their stream's
        return "customer", own_roles
    table = merchants if kind == "merchant" else collection_agents
    columns = [table.c.id] + ([collection_agents.c.role] if kind == "agent" else [])
    row = ctx.conn.execute(select(*columns).where(table.c.id == subject_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"{kind} {subject_id} not found")
    return (row.role if kind == "agent" else kind), own_roles


def _revoke_all(ctx: Ctx, roles: tuple[str, ...], subject_id: int) -> int:
    k = api_keys.c
    revoked: int = ctx.conn.execute(
        api_keys.update()
        .where(k.role.in_(roles), k.subject_id == subject_id, k.revoked_at.is_(None))
        .values(revoked_at=ctx.now)
    ).rowcount
    return revoked


def rotate(ctx: Ctx, kind: str, subject_id: int) -> dict[str, Any]:
    """Revoke the holder's keys and issue one new key, returned this once (``api_key``)."""
    role, roles = _holder(ctx, kind, subject_id)
    revoked = _revoke_all(ctx, roles, subject_id)
    raw = new_key(role)
    key_id = ctx.conn.execute(
        api_keys.insert()
        .values(key_hash=hash_key(raw), role=role, subject_id=subject_id, created_at=ctx.now)
        .returning(api_keys.c.id)
    ).scalar_one()
    after = {"role": role, "revoked": revoked, "key_id": key_id}
    audit.record(ctx, f"{kind}:{subject_id}", "api_key.rotated", kind, subject_id, None, after)
    return {"kind": kind, "id": subject_id, "role": role, "revoked": revoked, "api_key": raw}


def revoke(ctx: Ctx, kind: str, subject_id: int) -> dict[str, Any]:
    """Revoke every key the holder has; none replaces them (``rotate`` issues a new one later)."""
    role, roles = _holder(ctx, kind, subject_id)
    revoked = _revoke_all(ctx, roles, subject_id)
    audit.record(ctx, f"{kind}:{subject_id}", "api_key.revoked", kind, subject_id, None, {"revoked": revoked})
    return {"kind": kind, "id": subject_id, "role": role, "revoked": revoked}


def set_agent_active(ctx: Ctx, agent_id: int, active: bool) -> dict[str, Any]:
    """Admin: disable a collections agent (their API key is refused, and they may not act, while
    disabled; their keys stay, so enabling them again needs no new key) or enable them."""
    ctx.actor.require("admin")
    a = collection_agents.c
    row = ctx.conn.execute(
        select(a.id, a.name, a.role, a.active).where(a.id == agent_id).with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"agent {agent_id} not found")
    if bool(row.active) != active:
        ctx.conn.execute(collection_agents.update().where(a.id == agent_id).values(active=int(active)))
        audit.record(
            ctx,
            f"agent:{agent_id}",
            "agent.enabled" if active else "agent.disabled",
            "agent",
            agent_id,
            {"active": bool(row.active)},
            {"active": active},
        )
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "active": active,
        "changed": bool(row.active) != active,
    }
