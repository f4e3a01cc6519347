"""Merchants and customers: opening them, their contact details (sealed at rest) and what they see
of themselves. Credit lines are ``services.credit_lines``; API keys ``services.apikeys``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, select

from bnpl.domain.errors import InvalidInput, NotFound, require_in_range
from bnpl.domain.money import DEFAULT_CURRENCY
from bnpl.domain.orders import category_key
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.services.access import may_see_customer, may_see_merchant
from bnpl.services.apikeys import hash_key, issue_key, new_key
from bnpl.services.credit_lines import account_view, account_view_of, lock_account
from bnpl.store.bulk import insert_rows
from bnpl.store.tables import api_keys, credit_accounts, customers, merchants


def _check_name(name: str, what: str) -> None:
    if not name.strip():
        raise InvalidInput(f"{what} must not be empty")
    if any(ord(ch) < 32 for ch in name):
        raise InvalidInput(f"{what} must not contain control characters")


def create_merchant(
    ctx: Ctx,
    name: str,
    mdr_bps: int,
    trial_days: int = 7,
    settlement_delay_days: int = 7,
    categories: list[str] | None = None,
) -> dict[str, Any]:
    ctx.actor.require("admin")
    _check_name(name, "merchant name")
    require_in_range(mdr_bps, "mdr_bps", 0, 2000)
    require_in_range(trial_days, "trial_days", 0, 30)
    require_in_range(settlement_delay_days, "settlement_delay_days", 0, 90)
    cats = sorted({category_key(c) for c in categories or [] if c.strip()})
    merchant_id = ctx.conn.execute(
        merchants.insert()
        .values(
            name=name.strip(),
            mdr_bps=mdr_bps,
            trial_days=trial_days,
            settlement_delay_days=settlement_delay_days,
            categories=cats,
            created_at=ctx.now,
        )
        .returning(merchants.c.id)
    ).scalar_one()
    key = issue_key(ctx, "merchant", merchant_id)
    view = get_merchant(ctx, merchant_id)
    audit.record(ctx, f"merchant:{merchant_id}", "merchant.created", "merchant", merchant_id, None, view)
    return {**view, "api_key": key}


def get_merchant(ctx: Ctx, merchant_id: int) -> dict[str, Any]:
    may_see_merchant(ctx, merchant_id)
    row = ctx.conn.execute(select(merchants).where(merchants.c.id == merchant_id)).mappings().first()
    if row is None:
        raise NotFound(f"merchant {merchant_id} not found")
    return {
        "id": row["id"],
        "name": row["name"],
        "mdr_bps": row["mdr_bps"],
        "trial_days": row["trial_days"],
        "settlement_delay_days": row["settlement_delay_days"],
        "categories": list(row["categories"]),
        "outstanding_cap": row["outstanding_cap"],  # None: the policy's default for its age
    }


def _optional_text(value: str | None, what: str, longest: int) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value.strip()) > longest:
        raise InvalidInput(f"{what} is longer than {longest} characters")
    return value.strip()


@dataclass(frozen=True)
class NewCustomer:
    name: str
    credit_limit: int
    timezone: str = "Asia/Shanghai"
    phone: str | None = None
    address: str | None = None

    def checked(self) -> NewCustomer:
        """The same customer with tidied text, or InvalidInput saying what is wrong."""
        _check_name(self.name, "customer name")
        try:
            ZoneInfo(self.timezone)
        except (ValueError, ZoneInfoNotFoundError):
            raise InvalidInput(
                f"unknown time zone {self.timezone!r}; use an IANA name such as Asia/Shanghai"
            ) from None
        require_in_range(self.credit_limit, "credit_limit", 0, 100_000_000)
        return NewCustomer(
            self.name.strip(),
            self.credit_limit,
            self.timezone,
            _optional_text(self.phone, "phone", 32),
            _optional_text(self.address, "address", 300),
        )


def create_customer(
    ctx: Ctx,
    name: str,
    credit_limit: int,
    timezone: str = "Asia/Shanghai",
    phone: str | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    [(customer_id, key)] = open_accounts(ctx, [NewCustomer(name, credit_limit, timezone, phone, address)])
    return {**get_customer(ctx, customer_id), "api_key": key}


def open_accounts(ctx: Ctx, people: Sequence[NewCustomer]) -> list[tuple[int, str]]:
    """Open customers with their credit accounts and API keys, one statement per table (a
    marketplace enrolling its shoppers opens thousands at once). All or nothing: one bad entry
    refuses the lot. Returns each new customer's id and raw API key (shown this once)."""
    ctx.actor.require("admin")
    checked = [p.checked() for p in people]
    ids = insert_rows(
        ctx.conn,
        customers,
        [{"name": p.name, "timezone": p.timezone, "created_at": ctx.now} for p in checked],
        ids=True,
    )
    # contact details are sealed for their row, so they follow once the rows have their ids
    contacts = [
        {"b_id": i, **contact_values(ctx, i, p.phone, p.address)}
        for i, p in zip(ids, checked, strict=True)
        if p.phone or p.address
    ]
    if contacts:
        ctx.conn.execute(_SET_CONTACT, contacts)
    account_rows = [
        {
            "customer_id": customer_id,
            "currency": DEFAULT_CURRENCY,
            "credit_limit": p.credit_limit,
            "outstanding": 0,
            "holds": 0,
            "credit_balance": 0,
            "state": "active",
            "updated_at": ctx.now,
            # a customer opened with no limit waits for the limit review to give one
            "limit_set_by": "staff" if p.credit_limit > 0 else None,
        }
        for customer_id, p in zip(ids, checked, strict=True)
    ]
    insert_rows(ctx.conn, credit_accounts, account_rows)
    keys = [new_key("customer") for _ in ids]
    insert_rows(
        ctx.conn,
        api_keys,
        [
            {"key_hash": hash_key(k), "role": "customer", "subject_id": i, "created_at": ctx.now}
            for i, k in zip(ids, keys, strict=True)
        ],
    )
    audit.record_many(
        ctx,
        [
            (
                f"customer:{i}",
                "customer.created",
                "customer",
                i,
                None,
                {"id": i, "name": p.name, "timezone": p.timezone, "account": account_view_of(row)},
            )
            for i, p, row in zip(ids, checked, account_rows, strict=True)
        ],
    )
    return list(zip(ids, keys, strict=True))


# --- contact details: sealed at rest (store/crypto.py), compared through keyed hashes ---------------

_SET_CONTACT = customers.update().where(customers.c.id == bindparam("b_id"))


@dataclass(frozen=True)
class Contact:
    phone: str | None
    address: str | None


def contact_values(ctx: Ctx, customer_id: int, phone: str | None, address: str | None) -> dict[str, Any]:
    """The stored form of a customer's phone and registered address: each sealed for its row, and
    its keyed hash for look-ups."""
    keys = ctx.settings.keys
    return {
        "phone_enc": keys.seal(phone, "customers", "phone_enc", customer_id),
        "address_enc": keys.seal(address, "customers", "address_enc", customer_id),
        "phone_hmac": keys.lookup("phone", phone),
        "address_hmac": keys.lookup("address", address),
    }


def contact_of(ctx: Ctx, customer_id: int) -> Contact:
    """A customer's phone and registered address in plain text, for the few screens that show them
    (masked, or revealed for a reason) and the field visit that goes there."""
    row = ctx.conn.execute(
        select(customers.c.phone_enc, customers.c.address_enc).where(customers.c.id == customer_id)
    ).first()
    if row is None:
        raise NotFound(f"customer {customer_id} not found")
    keys = ctx.settings.keys
    return Contact(
        keys.open(row.phone_enc, "customers", "phone_enc", customer_id),
        keys.open(row.address_enc, "customers", "address_enc", customer_id),
    )


def set_contact(
    ctx: Ctx, customer_id: int, phone: str | None = None, address: str | None = None
) -> dict[str, Any]:
    """Admin: change a customer's phone or registered address (None keeps it, "" clears it). The
    audit log says which changed, never the values."""
    ctx.actor.require("admin")
    lock_account(ctx, customer_id)
    before = contact_of(ctx, customer_id)
    after = Contact(
        before.phone if phone is None else _optional_text(phone, "phone", 32),
        before.address if address is None else _optional_text(address, "address", 300),
    )
    changed = [f for f in ("phone", "address") if getattr(before, f) != getattr(after, f)]
    if changed:
        values = contact_values(ctx, customer_id, after.phone, after.address)
        ctx.conn.execute(_SET_CONTACT, {"b_id": customer_id, **values})
        audit.record(
            ctx,
            f"customer:{customer_id}",
            "customer.contact",
            "customer",
            customer_id,
            None,
            {"changed": changed},
        )
    return {"id": customer_id, "changed": changed}


def find_customers(ctx: Ctx, phone: str | None = None, address: str | None = None) -> list[int]:
    """Staff: the customers with this phone number and/or registered address, found through the
    keyed hashes (separators in a phone number and case and spacing in an address do not matter)."""
    ctx.actor.require("risk_analyst", "supervisor", "agent", "specialist")
    keys = ctx.settings.keys
    given = (("phone", customers.c.phone_hmac, phone), ("address", customers.c.address_hmac, address))
    wanted = [column == keys.lookup(kind, value) for kind, column, value in given if value and value.strip()]
    if not wanted:
        raise InvalidInput("give a phone number or an address to look for")
    return list(ctx.conn.execute(select(customers.c.id).where(*wanted).order_by(customers.c.id)).scalars())


def get_customer(ctx: Ctx, customer_id: int) -> dict[str, Any]:
    """A customer sees their own account, an agent the customers of their cases, other staff any;
    merchants none (a credit line and its history are the customer's, not the merchant's). The rule
    is ``services.access``."""
    may_see_customer(ctx, customer_id)
    row = ctx.conn.execute(
        select(customers.c.id, customers.c.name, customers.c.timezone, credit_accounts)
        .join(credit_accounts, credit_accounts.c.customer_id == customers.c.id)
        .where(customers.c.id == customer_id)
    ).first()
    if row is None:
        raise NotFound(f"customer {customer_id} not found")
    return {"id": row.id, "name": row.name, "timezone": row.timezone, "account": account_view(row)}


def set_merchant_cap(ctx: Ctx, merchant_id: int, outstanding_cap: int | None) -> dict[str, Any]:
    """Admin: the most that may be outstanding on one merchant's orders (``None``: the policy's
    default for its age). Checked at checkout against the last exposure snapshot."""
    ctx.actor.require("admin")
    if outstanding_cap is not None:
        require_in_range(outstanding_cap, "outstanding_cap", 0, 10**13)
    before = ctx.conn.execute(
        select(merchants.c.outstanding_cap).where(merchants.c.id == merchant_id).with_for_update()
    ).first()
    if before is None:
        raise NotFound(f"merchant {merchant_id} not found")
    ctx.conn.execute(
        merchants.update().where(merchants.c.id == merchant_id).values(outstanding_cap=outstanding_cap)
    )
    audit.record(
        ctx,
        f"merchant:{merchant_id}",
        "merchant.cap",
        "merchant",
        merchant_id,
        {"outstanding_cap": before.outstanding_cap},
        {"outstanding_cap": outstanding_cap},
    )
    return {"id": merchant_id, "outstanding_cap": outstanding_cap}
