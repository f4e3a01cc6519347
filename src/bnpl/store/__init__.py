"""Persistence: SQLAlchemy Core tables, engine set-up, Alembic migrations and repositories."""
