"""The ops console: staff, their sessions, flash messages and sign-in attempts."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from bnpl.store.tables.base import Id, metadata

__all__ = ["console_flash", "staff_sessions", "staff_sign_in_attempts", "staff_users"]

# --- the ops console: staff and their sessions ---------------------------------------------------

# A member of staff signing in to the console. The role decides the screens; an agent, field agent
# or supervisor is linked to their collections agent, a merchant user to their merchant.
staff_users = Table(
    "staff_users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),  # scrypt, with its salt and parameters
    Column(
        "role", String(16), nullable=False
    ),  # admin | risk_analyst | agent | field_agent | supervisor | merchant
    Column("agent_id", BigInteger, ForeignKey("collection_agents.id")),
    Column("merchant_id", BigInteger, ForeignKey("merchants.id")),
    Column("active", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# A signed-in session: the cookie carries a random token, the table only its hash; the session's
# CSRF token is derived from the token (console/staff.py), so nothing here signs anyone in.
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", BigInteger, ForeignKey("staff_users.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
)

# A message for the next console page one browser loads ("promise recorded", "blocked by …"),
# keyed by the SHA-256 of that browser's session token (or, signed out, of its sign-in form's
# token). Shown once, then deleted; messages never travel in the URL, so a crafted link cannot put
# words in the console's mouth.
console_flash = Table(
    "console_flash",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key_hash", String(64), nullable=False),
    Column("kind", String(8), nullable=False),  # ok | err
    Column("text", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_console_flash_key_hash", "key_hash"),
    Index("ix_console_flash_created_at", "created_at"),  # old, never-shown messages are purged
)

# Console sign-in attempts the throttles let through, kept only for the throttles' one-minute
# window: how many came from one client address, and how many from everyone.
staff_sign_in_attempts = Table(
    "staff_sign_in_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),  # the client address as the application sees it
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_staff_sign_in_attempts_source_at", "source", "at"),
    Index("ix_staff_sign_in_attempts_at", "at"),
)
