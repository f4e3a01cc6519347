"""personal data sealed at rest: customers' phone and address and field visits' address under
AES-GCM with keyed hashes for look-ups; order addresses keyed; no CSRF token stored

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-26 18:00:00

The data step seals the existing plain values with the configured key ring (the one the caller of
``bnpl.store.migrate.upgrade`` hands in, else ``BNPL_DATA_KEYS`` / ``BNPL_LOOKUP_KEY``, else the
development keys), a batch at a time, and keys the order addresses the merchants sent (decisions'
inputs too) the way the checkout now does, so old and new orders still meet in the velocity
counts and the cash-out graph. A field visit whose outcome is recorded stays frozen except for
its sealed address, which key rotation must be able to reseal.
"""

import secrets
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from bnpl.store.crypto import KeyRing

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None

BATCH = 5_000

# every column of field_visits but the sealed address: an UPDATE OF any of them is refused on
# SQLite once the outcome is recorded (PostgreSQL compares the whole row but that column)
VISIT_COLUMNS = (
    "id, case_id, customer_id, status, requested_by, requested_on, reason, decided_by, decided_on, "
    "agent_a, agent_b, slot_at, notice_attempt_id, outcome, checklist, cost, completed_at"
)


def _keys() -> KeyRing:
    keys = context.config.attributes.get("keys")
    return keys if keys is not None else KeyRing.from_env()


def _pg() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def _batches(query: str) -> Iterator[Sequence[Any]]:
    """The rows of ``query`` (which takes ``:after`` and returns ``id`` first), in id order."""
    bind, after = op.get_bind(), 0
    while rows := bind.execute(sa.text(query), {"after": after, "n": BATCH}).all():
        yield rows
        after = rows[-1][0]


def upgrade() -> None:
    keys = _keys()
    with op.batch_alter_table("customers", recreate="never") as batch:
        batch.add_column(sa.Column("phone_enc", sa.Text(), nullable=True))
        batch.add_column(sa.Column("address_enc", sa.Text(), nullable=True))
        batch.add_column(sa.Column("phone_hmac", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("address_hmac", sa.String(length=64), nullable=True))
        batch.create_index("ix_customers_phone_hmac", ["phone_hmac"], unique=False)
        batch.create_index("ix_customers_address_hmac", ["address_hmac"], unique=False)
    with op.batch_alter_table("field_visits", recreate="never") as batch:
        batch.add_column(sa.Column("address_enc", sa.Text(), nullable=True))
    _drop_visit_guard()

    bind = op.get_bind()
    for rows in _batches(
        "SELECT id, phone, address FROM customers WHERE id > :after "
        "AND (phone IS NOT NULL OR address IS NOT NULL) ORDER BY id LIMIT :n"
    ):
        bind.execute(
            sa.text(
                "UPDATE customers SET phone_enc = :pe, address_enc = :ae, phone_hmac = :ph, "
                "address_hmac = :ah WHERE id = :id"
            ),
            [
                {
                    "id": i,
                    "pe": keys.seal(phone, "customers", "phone_enc", i),
                    "ae": keys.seal(address, "customers", "address_enc", i),
                    "ph": keys.lookup("phone", phone),
                    "ah": keys.lookup("address", address),
                }
                for i, phone, address in rows
            ],
        )
    for rows in _batches(
        "SELECT id, address FROM field_visits WHERE id > :after AND address IS NOT NULL ORDER BY id LIMIT :n"
    ):
        bind.execute(
            sa.text("UPDATE field_visits SET address_enc = :ae WHERE id = :id"),
            [{"id": i, "ae": keys.seal(address, "field_visits", "address_enc", i)} for i, address in rows],
        )
    _key_order_addresses(keys)
    _forget_stored_api_keys()

    with op.batch_alter_table("customers", recreate="never") as batch:
        batch.drop_column("phone")
        batch.drop_column("address")
    with op.batch_alter_table("field_visits", recreate="never") as batch:
        batch.drop_column("address")
    with op.batch_alter_table("staff_sessions", recreate="never") as batch:
        batch.drop_column("csrf")  # derived from the session token now (console/staff.py)
    _visit_guard()


def _key_order_addresses(keys: KeyRing) -> None:
    """Replace each address a merchant sent with its keyed hash, in orders and decisions' inputs,
    set-based through a mapping table of the distinct values."""
    bind = op.get_bind()
    values = bind.execute(
        sa.text("SELECT DISTINCT address_hash FROM orders WHERE address_hash IS NOT NULL")
    ).scalars()
    mapping = [{"old": v, "new": keys.lookup("address", v)} for v in values]
    if not mapping:
        return
    bind.execute(sa.text("CREATE TEMPORARY TABLE bnpl_rekey (old VARCHAR(128) PRIMARY KEY, new VARCHAR(64))"))
    bind.execute(sa.text("INSERT INTO bnpl_rekey (old, new) VALUES (:old, :new)"), mapping)
    if _pg():
        bind.execute(
            sa.text("UPDATE orders o SET address_hash = r.new FROM bnpl_rekey r WHERE o.address_hash = r.old")
        )
        bind.execute(
            sa.text(
                "UPDATE decisions d SET inputs = jsonb_set(d.inputs::jsonb, '{address_hash}', "
                "to_jsonb(r.new))::json FROM bnpl_rekey r WHERE d.inputs ->> 'address_hash' = r.old"
            )
        )
    else:
        bind.execute(
            sa.text(
                "UPDATE orders SET address_hash = "
                "(SELECT new FROM bnpl_rekey WHERE old = orders.address_hash) "
                "WHERE address_hash IN (SELECT old FROM bnpl_rekey)"
            )
        )
        bind.execute(
            sa.text(
                "UPDATE decisions SET inputs = json_set(inputs, '$.address_hash', "
                "(SELECT new FROM bnpl_rekey WHERE old = json_extract(decisions.inputs, '$.address_hash'))) "
                "WHERE json_extract(inputs, '$.address_hash') IN (SELECT old FROM bnpl_rekey)"
            )
        )
    bind.execute(sa.text("DROP TABLE bnpl_rekey"))


# services/idempotency.py's SHOWN_ONCE, as it was when this migration was written
SHOWN_ONCE = "once, in the first answer; not stored"


def _forget_stored_api_keys() -> None:
    """Answers stored for replays kept the new API keys they showed: now they keep what a replay
    shows, the key null and a note that it was shown once."""
    if _pg():
        op.execute(
            sa.text(
                "UPDATE idempotency_keys SET response = (response::jsonb "
                "|| jsonb_build_object('api_key', NULL, 'api_key_shown', CAST(:note AS text)))::json "
                "WHERE json_typeof(response) = 'object' AND response ->> 'api_key' IS NOT NULL"
            ).bindparams(note=SHOWN_ONCE)
        )
    else:
        op.execute(
            sa.text(
                "UPDATE idempotency_keys SET response = json_set(response, '$.api_key', NULL, "
                "'$.api_key_shown', :note) "
                "WHERE json_type(response) = 'object' AND json_extract(response, '$.api_key') IS NOT NULL"
            ).bindparams(note=SHOWN_ONCE)
        )


def _drop_visit_guard() -> None:
    op.execute("DROP TRIGGER IF EXISTS field_visits_final" + (" ON field_visits" if _pg() else ""))


def _visit_guard() -> None:
    """A field visit with an outcome is on record: only its sealed address may be resealed."""
    if _pg():
        op.execute(
            """
            CREATE OR REPLACE FUNCTION bnpl_visit_final() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' OR (OLD.outcome IS NOT NULL
                        AND to_jsonb(NEW) - 'address_enc' IS DISTINCT FROM to_jsonb(OLD) - 'address_enc') THEN
                    RAISE EXCEPTION 'field visit % is on record and cannot change', OLD.id;
                END IF;
                RETURN NEW;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER field_visits_final BEFORE UPDATE OR DELETE ON field_visits "
            "FOR EACH ROW EXECUTE FUNCTION bnpl_visit_final()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER field_visits_final BEFORE UPDATE OF {VISIT_COLUMNS} ON field_visits "
            "WHEN OLD.outcome IS NOT NULL "
            "BEGIN SELECT RAISE(ABORT, 'a field visit with an outcome cannot change'); END"
        )


def downgrade() -> None:
    """Opens the sealed values back into plain columns. Order addresses stay keyed (a keyed hash
    does not open), and sessions get a fresh CSRF token each."""
    keys = _keys()
    with op.batch_alter_table("customers", recreate="never") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("address", sa.String(length=300), nullable=True))
    with op.batch_alter_table("field_visits", recreate="never") as batch:
        batch.add_column(sa.Column("address", sa.String(length=300), nullable=True))
    with op.batch_alter_table("staff_sessions", recreate="never") as batch:
        batch.add_column(sa.Column("csrf", sa.String(length=64), nullable=False, server_default=""))
    _drop_visit_guard()
    bind = op.get_bind()
    for rows in _batches(
        "SELECT id, phone_enc, address_enc FROM customers WHERE id > :after "
        "AND (phone_enc IS NOT NULL OR address_enc IS NOT NULL) ORDER BY id LIMIT :n"
    ):
        bind.execute(
            sa.text("UPDATE customers SET phone = :p, address = :a WHERE id = :id"),
            [
                {
                    "id": i,
                    "p": keys.open(pe, "customers", "phone_enc", i),
                    "a": keys.open(ae, "customers", "address_enc", i),
                }
                for i, pe, ae in rows
            ],
        )
    for rows in _batches(
        "SELECT id, address_enc FROM field_visits WHERE id > :after AND address_enc IS NOT NULL "
        "ORDER BY id LIMIT :n"
    ):
        bind.execute(
            sa.text("UPDATE field_visits SET address = :a WHERE id = :id"),
            [{"id": i, "a": keys.open(ae, "field_visits", "address_enc", i)} for i, ae in rows],
        )
    for rows in _batches("SELECT id FROM staff_sessions WHERE id > :after ORDER BY id LIMIT :n"):
        bind.execute(
            sa.text("UPDATE staff_sessions SET csrf = :c WHERE id = :id"),
            [{"id": i, "c": secrets.token_urlsafe(32)} for (i,) in rows],
        )
    with op.batch_alter_table("customers", recreate="never") as batch:
        batch.drop_index("ix_customers_address_hmac")
        batch.drop_index("ix_customers_phone_hmac")
        batch.drop_column("address_hmac")
        batch.drop_column("phone_hmac")
        batch.drop_column("address_enc")
        batch.drop_column("phone_enc")
    with op.batch_alter_table("field_visits", recreate="never") as batch:
        batch.drop_column("address_enc")
    _original_visit_guard()


def _original_visit_guard() -> None:
    """0005's guard: nothing of a visit with an outcome changes."""
    if _pg():
        op.execute(
            """
            CREATE OR REPLACE FUNCTION bnpl_visit_final() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' OR OLD.outcome IS NOT NULL THEN
                    RAISE EXCEPTION 'field visit % is on record and cannot change', OLD.id;
                END IF;
                RETURN NEW;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER field_visits_final BEFORE UPDATE OR DELETE ON field_visits "
            "FOR EACH ROW EXECUTE FUNCTION bnpl_visit_final()"
        )
    else:
        op.execute(
            "CREATE TRIGGER field_visits_final BEFORE UPDATE ON field_visits WHEN OLD.outcome IS NOT NULL "
            "BEGIN SELECT RAISE(ABORT, 'a field visit with an outcome cannot change'); END"
        )
