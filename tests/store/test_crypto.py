"""The key ring that seals personal data: round trips, tampering, rotation, keyed hashes, and the
refusal of development keys outside development. No database here."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bnpl.runtime import Settings
from bnpl.store.crypto import (
    DEV_DATA_KEYS,
    DEV_LOOKUP_KEY,
    KeyRing,
    Unreadable,
    key_id_of,
    new_data_key,
    new_lookup_key,
)

OLD, NEW, LOOKUP = new_data_key("old"), new_data_key("new"), new_lookup_key()
RING = KeyRing.parse(OLD, LOOKUP)


@given(text=st.text(max_size=400), row=st.integers(min_value=1, max_value=2**62))
def test_what_is_sealed_opens_to_itself_and_only_on_its_own_row_and_column(text: str, row: int) -> None:
    sealed = RING.seal(text, "customers", "address_enc", row)
    assert sealed is not None and key_id_of(sealed) == "old"
    assert RING.open(sealed, "customers", "address_enc", row) == text
    assert sealed != RING.seal(text, "customers", "address_enc", row)  # a fresh nonce every time
    for table, column, other in (
        ("customers", "address_enc", row + 1),  # copied onto another customer
        ("customers", "phone_enc", row),  # or into another column
        ("field_visits", "address_enc", row),  # or another table
    ):
        with pytest.raises(Unreadable):
            RING.open(sealed, table, column, other)


@given(text=st.text(min_size=1, max_size=50), at=st.integers(min_value=0, max_value=200))
def test_a_changed_character_is_refused(text: str, at: int) -> None:
    sealed = RING.seal(text, "customers", "phone_enc", 7)
    assert sealed is not None
    kid, _, body = sealed.partition(":")
    i = at % len(body)
    tampered = f"{kid}:{body[:i]}{'B' if body[i] != 'B' else 'C'}{body[i + 1 :]}"
    with pytest.raises(Unreadable):
        RING.open(tampered, "customers", "phone_enc", 7)


def test_rotation_old_keys_still_open_and_new_values_use_the_primary() -> None:
    sealed_old = RING.seal("13800000000", "customers", "phone_enc", 1)
    rotated = KeyRing.parse(f"{NEW},{OLD}", LOOKUP)
    assert rotated.primary == "new" and rotated.key_ids == ("new", "old")
    assert rotated.open(sealed_old, "customers", "phone_enc", 1) == "13800000000"
    assert rotated.needs_reseal(sealed_old)
    resealed = rotated.seal("13800000000", "customers", "phone_enc", 1)
    assert resealed is not None and key_id_of(resealed) == "new" and not rotated.needs_reseal(resealed)
    with pytest.raises(Unreadable, match="not in BNPL_DATA_KEYS"):
        RING.open(resealed, "customers", "phone_enc", 1)  # the old ring does not know the new key
    # the keyed hashes do not depend on the data keys: look-ups survive a rotation
    assert rotated.lookup("phone", "13800000000") == RING.lookup("phone", "13800000000")


def test_keyed_hashes_compare_normalised_values_under_their_own_key() -> None:
    assert RING.lookup("phone", "+86 138-0000-0000") == RING.lookup("phone", "+8613800000000")
    assert RING.lookup("phone", "+8613800000000") != RING.lookup("phone", "8613800000000")
    assert RING.lookup("address", "Room 1,  8 Test Road") == RING.lookup("address", "room 1, 8 test road")
    assert RING.lookup("address", "x") != RING.lookup("phone", "x")  # each kind its own space
    assert RING.lookup("phone", None) is None and RING.lookup("phone", "  ") is None
    other = KeyRing.parse(OLD, new_lookup_key())
    assert other.lookup("phone", "13800000000") != RING.lookup("phone", "13800000000")


@pytest.mark.parametrize(
    ("data_keys", "lookup", "message"),
    [
        ("", LOOKUP, "holds no key"),
        ("nocolon", LOOKUP, "entry 1 is not"),
        ("bad id:AAAA", LOOKUP, "entry 1 is not"),
        ("k1:not*base64", LOOKUP, "not base64"),
        ("k1:AAAA", LOOKUP, "32 random bytes"),
        (f"{OLD},{OLD}", LOOKUP, "twice"),
        (OLD, "AAAA", "BNPL_LOOKUP_KEY must be 32"),
    ],
)
def test_a_malformed_key_ring_is_refused_without_echoing_keys(
    data_keys: str, lookup: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        KeyRing.parse(data_keys, lookup)
    assert OLD.partition(":")[2] not in str(refused.value)


def test_outside_development_the_development_keys_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BNPL_DATA_KEYS", "BNPL_LOOKUP_KEY", "BNPL_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    assert Settings.from_env().keys.development  # development: the published keys are fine
    monkeypatch.setenv("BNPL_ENVIRONMENT", "production")
    monkeypatch.setenv("BNPL_ADMIN_KEY", "a-real-admin-key-for-this-test")
    monkeypatch.setenv("BNPL_WEBHOOK_SECRET", "a-real-webhook-secret-for-this-test")
    monkeypatch.setenv("BNPL_MARKETPLACE_FEED_SECRET", "a-real-feed-secret-for-this-test")
    with pytest.raises(ValueError, match="BNPL_DATA_KEYS and BNPL_LOOKUP_KEY must be set"):
        Settings.from_env()
    monkeypatch.setenv("BNPL_DATA_KEYS", NEW)
    with pytest.raises(ValueError, match="must be set to real keys"):  # the look-up key is still dev
        Settings.from_env()
    monkeypatch.setenv("BNPL_LOOKUP_KEY", LOOKUP)
    assert Settings.from_env().keys.primary == "new"
    # the development key under another name is still the development key
    monkeypatch.setenv("BNPL_DATA_KEYS", f"{NEW},prod:{DEV_DATA_KEYS.partition(':')[2]}")
    with pytest.raises(ValueError, match="must be set to real keys"):
        Settings.from_env()
    assert DEV_LOOKUP_KEY != LOOKUP
