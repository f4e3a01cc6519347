"""Staff of the ops console: accounts, passwords, sessions, and who they act as in the services.

Passwords are kept as scrypt hashes (standard library, salted, memory-hard). A session is a random
token in an HttpOnly cookie; only its SHA-256 is stored, so a copy of the database signs nobody in.
Each session has its own CSRF token, which every form posts back: an HMAC of the session token,
made again on every request and stored nowhere. Sign-ins, failed sign-ins and sign-outs are audited
on the member of staff's own stream. Signing in itself (the throttles, and the password check
outside any transaction) is ``services.staff_sign_in``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import select

from bnpl.domain.errors import InvalidInput, NotFound
from bnpl.runtime import Actor, Ctx
from bnpl.services import audit
from bnpl.services.apikeys import hash_key
from bnpl.store.tables import collection_agents, merchants, staff_sessions, staff_users

ROLES = ("admin", "risk_analyst", "agent", "field_agent", "supervisor", "merchant")
# the collections agent behind a console role: an "agent" may be a specialist
AGENT_ROLES = {
    "agent": ("agent", "specialist"),
    "field_agent": ("field_agent",),
    "supervisor": ("supervisor",),
}
SESSION_HOURS = 10  # one working day; then sign in again
MIN_PASSWORD = 12
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(got.hex(), digest)


# a hash to compare against when the username is unknown, so a wrong name takes as long as a wrong
# password (no telling which usernames exist by timing)
@cache
def dummy_hash() -> str:
    return hash_password(secrets.token_hex(8))  # made at the first sign-in, not at start-up


@dataclass(frozen=True)
class Staff:
    user_id: int
    username: str
    role: str
    agent_id: int | None
    merchant_id: int | None
    agent_role: str | None  # the linked collections agent's role (agent or specialist, …)
    csrf: str

    @property
    def actor(self) -> Actor:
        """Who the services see: the same roles the API's keys carry."""
        if self.role == "merchant":
            return Actor("merchant", self.merchant_id)
        if self.role in AGENT_ROLES:
            return Actor(self.agent_role or self.role, self.agent_id)
        return Actor(self.role)

    @property
    def stream(self) -> str:
        return f"staff:{self.username}"


def create_staff(
    ctx: Ctx,
    username: str,
    password: str,
    role: str,
    agent_id: int | None = None,
    merchant_id: int | None = None,
) -> dict[str, Any]:
    ctx.actor.require("admin")
    name = username.strip().lower()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-" for c in name):
        raise InvalidInput("a username is 1-64 letters, digits, dots, dashes or underscores")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password has at least {MIN_PASSWORD} characters")
    if role in AGENT_ROLES:
        agent_role = ctx.conn.execute(
            select(collection_agents.c.role).where(collection_agents.c.id == agent_id)
        ).scalar()
        if agent_role not in AGENT_ROLES[role]:
            raise InvalidInput(
                f"a {role} is linked to a collections agent with role {' or '.join(AGENT_ROLES[role])}"
            )
    elif agent_id is not None:
        raise InvalidInput(f"a {role} is not linked to a collections agent")
    if role == "merchant":
        if ctx.conn.execute(select(merchants.c.id).where(merchants.c.id == merchant_id)).first() is None:
            raise InvalidInput("a merchant user is linked to an existing merchant (--merchant)")
    elif merchant_id is not None:
        raise InvalidInput(f"a {role} is not linked to a merchant")
    if ctx.conn.execute(select(staff_users.c.id).where(staff_users.c.username == name)).first():
        raise InvalidInput(f"username {name!r} is taken")
    user_id = ctx.conn.execute(
        staff_users.insert()
        .values(
            username=name,
            password_hash=hash_password(password),
            role=role,
            agent_id=agent_id,
            merchant_id=merchant_id,
            active=1,
            created_at=ctx.now,
        )
        .returning(staff_users.c.id)
    ).scalar_one()
    view = {"id": user_id, "username": name, "role": role, "agent_id": agent_id, "merchant_id": merchant_id}
    audit.record(ctx, f"staff:{name}", "staff.created", "staff", user_id, None, view)
    return view


def one_per_role(
    ctx: Ctx,
    pattern: str,
    password: str,
    agent_id: int,
    supervisor_id: int,
    field_agent_id: int,
    merchant_id: int,
) -> dict[str, str]:
    """One member of staff for every role (a demo, a test world, a benchmark), each named by
    ``pattern`` (e.g. ``"demo.{role}"``) and linked to the given agents and merchant."""
    links: dict[str, dict[str, int]] = {
        "admin": {},
        "risk_analyst": {},
        "agent": {"agent_id": agent_id},
        "supervisor": {"agent_id": supervisor_id},
        "field_agent": {"agent_id": field_agent_id},
        "merchant": {"merchant_id": merchant_id},
    }
    return {
        role: create_staff(ctx, pattern.format(role=role), password, role, **link)["username"]
        for role, link in links.items()
    }


def open_session(ctx: Ctx, user_id: int, username: str, role: str) -> tuple[str, Staff]:
    """A new session for a member of staff whose password was just checked
    (``services.staff_sign_in``): the raw token goes in the cookie, only its hash in the table.
    Audited as ``staff.signed_in``."""
    token = secrets.token_urlsafe(32)
    ctx.conn.execute(
        staff_sessions.insert().values(
            token_hash=hash_key(token),
            user_id=user_id,
            created_at=ctx.now,
            expires_at=ctx.now + timedelta(hours=SESSION_HOURS),
        )
    )
    audit.record(ctx, f"staff:{username}", "staff.signed_in", "staff", user_id, None, {"role": role})
    staff = session_for(ctx, token)
    assert staff is not None
    return token, staff


def set_active(ctx: Ctx, username: str, active: bool) -> dict[str, Any]:
    """Disable a member of staff (every open session ends at once) or enable them again."""
    ctx.actor.require("admin")
    name = username.strip().lower()
    user = ctx.conn.execute(select(staff_users).where(staff_users.c.username == name)).first()
    if user is None:
        raise NotFound(f"no member of staff {name!r}")
    ctx.conn.execute(staff_users.update().where(staff_users.c.id == user.id).values(active=int(active)))
    ended = 0
    if not active:
        ended = ctx.conn.execute(
            staff_sessions.update()
            .where(staff_sessions.c.user_id == user.id, staff_sessions.c.ended_at.is_(None))
            .values(ended_at=ctx.now)
        ).rowcount
    audit.record(
        ctx,
        f"staff:{name}",
        "staff.enabled" if active else "staff.disabled",
        "staff",
        user.id,
        None,
        {"sessions_ended": ended},
    )
    return {"username": name, "active": active, "sessions_ended": ended}


_SESSION = (
    select(
        staff_users,
        staff_sessions.c.expires_at,
        collection_agents.c.role.label("agent_role"),
    )
    .join(staff_sessions, staff_sessions.c.user_id == staff_users.c.id)
    .outerjoin(collection_agents, collection_agents.c.id == staff_users.c.agent_id)
)


def session_for(ctx: Ctx, token: str | None) -> Staff | None:
    """The member of staff a session token belongs to, while it is open and unexpired."""
    if not token:
        return None
    row = ctx.conn.execute(
        _SESSION.where(staff_sessions.c.token_hash == hash_key(token), staff_sessions.c.ended_at.is_(None))
    ).first()
    if row is None or not row.active:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=ctx.now.tzinfo)
    if expires <= ctx.now:
        return None
    return Staff(
        row.id, row.username, row.role, row.agent_id, row.merchant_id, row.agent_role, csrf_token(token)
    )


def csrf_token(session_token: str) -> str:
    """The session's CSRF token: derived from the session token (which only the cookie holds), so
    the database keeps neither."""
    digest = hmac.new(session_token.encode(), b"bnpl console csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_out(ctx: Ctx, token: str) -> None:
    staff = session_for(ctx, token)
    ctx.conn.execute(
        staff_sessions.update()
        .where(staff_sessions.c.token_hash == hash_key(token), staff_sessions.c.ended_at.is_(None))
        .values(ended_at=ctx.now)
    )
    if staff is not None:
        audit.record(ctx, staff.stream, "staff.signed_out", "staff", staff.user_id, None, None)


def csrf_ok(staff: Staff, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(staff.csrf, token)
