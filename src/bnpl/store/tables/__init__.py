"""The schema, in SQLAlchemy Core, one module per part of the book. Alembic migrations under
``migrations/`` build it.

Money columns are BigInteger fen; rates are integer basis points; nothing here is a float.
``ledger_lines`` and ``journal_entries`` are append-only (triggers refuse UPDATE and DELETE).
"""

from bnpl.store.tables.base import Id as Id
from bnpl.store.tables.base import Money as Money
from bnpl.store.tables.base import metadata as metadata
from bnpl.store.tables.collections import *  # noqa: F403
from bnpl.store.tables.collections import field_visits
from bnpl.store.tables.console import *  # noqa: F403
from bnpl.store.tables.lifecycle import *  # noqa: F403
from bnpl.store.tables.lifecycle import customers
from bnpl.store.tables.marketplace import *  # noqa: F403
from bnpl.store.tables.models import *  # noqa: F403

# Columns holding sealed personal data (store/crypto.py), each bound to its table, column and row
# id: what `bnpl keys reencrypt` moves to the primary key.
SEALED_COLUMNS = (
    (customers, "phone_enc"),
    (customers, "address_enc"),
    (field_visits, "address_enc"),
)
