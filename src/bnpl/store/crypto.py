"""Personal data at rest: AES-256-GCM under a key ring, and keyed hashes for equality look-ups.

A sealed value is stored as ``<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>``: a fresh random
96-bit nonce for every value, and the table, column and row id bound as associated data, so a value
copied onto another row or column, or altered by one bit, does not open (``Unreadable``).

The key ring comes from configuration, ``BNPL_DATA_KEYS``: ``id:base64key`` entries separated by
commas, the first one the primary that seals every new value. Rotation: put a new key first and
keep the old ones behind it (they still open what they sealed), run ``bnpl keys reencrypt`` to move
every row to the primary, then drop the old keys.

Where the platform compares values without reading them (one phone on several customers, a
delivery address shared by a cash-out ring) it keeps an HMAC-SHA256 of the normalised value under
a separate key, ``BNPL_LOOKUP_KEY``. Equal values give equal hashes, so look-ups and joins work on
the hashes alone; the key stays out of the data keys' rotation because order addresses arrive
hashed by the merchant and cannot be hashed again without the values.

Nothing here touches the database: callers say which table, column and row a value belongs to.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12  # 96 bits, the size GCM is built for
KEY_BYTES = 32  # AES-256
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Strict base64, in the URL-safe or the standard alphabet, padded or not."""
    text = text.strip()
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


# Development only: fixed keys anyone can read here, so that a development database opens on any
# machine without set-up. ``Settings.check`` refuses them outside development.
DEV_KEY_ID = "dev"
DEV_DATA_KEYS = f"{DEV_KEY_ID}:" + _b64(hashlib.sha256(b"bnpl development data key, NOT A SECRET").digest())
DEV_LOOKUP_KEY = _b64(hashlib.sha256(b"bnpl development lookup key, NOT A SECRET").digest())


class Unreadable(Exception):
    """A sealed value that does not open: altered, moved to another row or column, or sealed under
    a key that is not in the ring."""


def associated_data(table: str, column: str, row_id: int) -> bytes:
    """What a sealed value is bound to: its table, column and row."""
    return f"bnpl:{table}.{column}:{row_id}".encode()


def normalise(kind: str, value: str) -> str:
    """The form a value is compared in: a phone number's digits (and a leading +), any other text
    with its whitespace collapsed and its case folded."""
    if kind == "phone":
        digits = "".join(ch for ch in value if ch.isdigit())
        return ("+" if value.strip().startswith("+") else "") + digits
    return " ".join(value.split()).casefold()


def key_id_of(sealed: str) -> str:
    """The id of the key that sealed ``sealed``."""
    return sealed.partition(":")[0]


class KeyRing:
    """The data keys (the first one primary) and the look-up key, parsed from configuration."""

    def __init__(self, keys: dict[str, bytes], primary: str, lookup_key: bytes) -> None:
        if primary not in keys:
            raise ValueError(f"the primary key {primary!r} is not in the ring")
        self.primary = primary
        self.key_ids = tuple(keys)
        self._aead = {kid: AESGCM(key) for kid, key in keys.items()}
        self._lookup_key = lookup_key
        # the published development keys, under any id: refused outside development
        self.development = _dev_data_key() in keys.values() or lookup_key == _unb64(DEV_LOOKUP_KEY)

    @classmethod
    def parse(cls, data_keys: str, lookup_key: str) -> KeyRing:
        """``data_keys`` as in ``BNPL_DATA_KEYS``, ``lookup_key`` as in ``BNPL_LOOKUP_KEY``. Errors
        name what is wrong and never repeat key material."""
        keys: dict[str, bytes] = {}
        for n, entry in enumerate((e.strip() for e in data_keys.split(",")), start=1):
            if not entry:
                continue
            kid, sep, material = entry.partition(":")
            if not sep or not _KEY_ID.fullmatch(kid):
                raise ValueError(
                    f"BNPL_DATA_KEYS entry {n} is not 'id:base64key' with an id of 1-32 letters, "
                    "digits, '-' or '_'"
                )
            if kid in keys:
                raise ValueError(f"BNPL_DATA_KEYS names key {kid!r} twice")
            keys[kid] = _key_bytes(material, f"BNPL_DATA_KEYS key {kid!r}", exact=True)
        if not keys:
            raise ValueError("BNPL_DATA_KEYS holds no key")
        return cls(keys, next(iter(keys)), _key_bytes(lookup_key, "BNPL_LOOKUP_KEY", exact=False))

    @classmethod
    def from_env(cls) -> KeyRing:
        """The ring ``BNPL_DATA_KEYS`` and ``BNPL_LOOKUP_KEY`` configure (the development keys
        where they are unset; ``Settings.check`` refuses those outside development)."""
        return cls.parse(
            os.environ.get("BNPL_DATA_KEYS", DEV_DATA_KEYS), os.environ.get("BNPL_LOOKUP_KEY", DEV_LOOKUP_KEY)
        )

    # --- sealing ---------------------------------------------------------------------------------

    def seal(self, plaintext: str | None, table: str, column: str, row_id: int) -> str | None:
        """``plaintext`` sealed under the primary key for that table, column and row (None stays
        None)."""
        if plaintext is None:
            return None
        nonce = secrets.token_bytes(NONCE_BYTES)
        body = self._aead[self.primary].encrypt(
            nonce, plaintext.encode(), associated_data(table, column, row_id)
        )
        return f"{self.primary}:{_b64(nonce + body)}"

    def open(self, sealed: str | None, table: str, column: str, row_id: int) -> str | None:
        """The plain text of a sealed value, or ``Unreadable``."""
        if sealed is None:
            return None
        kid, sep, payload = sealed.partition(":")
        where = f"{table}.{column} of row {row_id}"
        aead = self._aead.get(kid)
        if not sep or aead is None:
            raise Unreadable(f"{where} is sealed under key {kid!r}, which is not in BNPL_DATA_KEYS")
        try:
            raw = _unb64(payload)
            if len(raw) < NONCE_BYTES + 16 or _b64(raw) != payload:  # only the canonical spelling
                raise InvalidTag
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data(table, column, row_id))
            return plain.decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise Unreadable(f"{where} does not open: it was altered or does not belong there") from None

    def needs_reseal(self, sealed: str | None) -> bool:
        return sealed is not None and key_id_of(sealed) != self.primary

    # --- keyed hashes ------------------------------------------------------------------------------

    def lookup(self, kind: str, value: str | None) -> str | None:
        """HMAC-SHA256 (hex) of the normalised ``value``, for equality look-ups; None for no value."""
        if value is None or not value.strip():
            return None
        message = f"{kind}\x1f{normalise(kind, value)}".encode()
        return hmac.new(self._lookup_key, message, hashlib.sha256).hexdigest()


def _key_bytes(text: str, what: str, exact: bool) -> bytes:
    try:
        key = _unb64(text)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64") from None
    if (exact and len(key) != KEY_BYTES) or len(key) < KEY_BYTES:
        raise ValueError(f"{what} must be {KEY_BYTES} random bytes, base64-encoded (`bnpl keys new`)")
    return key


def _dev_data_key() -> bytes:
    return _unb64(DEV_DATA_KEYS.partition(":")[2])


def new_data_key(key_id: str) -> str:
    """A fresh ``id:base64key`` entry for ``BNPL_DATA_KEYS``."""
    if not _KEY_ID.fullmatch(key_id):
        raise ValueError("a key id is 1-32 letters, digits, '-' or '_'")
    return f"{key_id}:{_b64(secrets.token_bytes(KEY_BYTES))}"


def new_lookup_key() -> str:
    """A fresh value for ``BNPL_LOOKUP_KEY``."""
    return _b64(secrets.token_bytes(KEY_BYTES))
