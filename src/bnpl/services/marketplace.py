"""The host marketplace's data feed: the shopper's consent, and ingestion of the feed's records.

Consent comes first. Granting and withdrawing are appended events, audited on the customer's chain
under the lock on their credit account. A record is stored only if its customer's consent is in
effect when it arrives and covers its type; otherwise the row is refused with reason ``no
consent`` (minimum collection: data the platform may not use is never kept).

Ingestion is one transaction per batch (a signed API request, or a whole file from the CLI):
every record is checked first, and one bad record refuses the batch with its position and
reason, so nothing of it is written. A record whose event id is already stored with the same
content is a ``duplicate`` (a resend, nothing written); the same id with another content is a
409. The rows go in with bulk inserts (COPY on PostgreSQL), and one audit record per batch names
what came in. Batches are serialised (an advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` on
SQLite), so two resends of one event cannot race past the duplicate check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select

from bnpl.domain.errors import Conflict, InvalidInput, NotFound
from bnpl.domain.marketplace import (
    MAX_BATCH,
    ConsentEvent,
    FeedRecord,
    RecordType,
    check_consent,
    consent_at,
    digest,
    parse_record,
    values,
)
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.services.credit_lines import lock_account
from bnpl.store.bulk import among, chunks, insert_rows
from bnpl.store.tables import (
    marketplace_consents,
    marketplace_engagement,
    marketplace_orders,
    marketplace_profiles,
)

FEED_LOCK = 0x6273_6E70_6665_6564  # "bnpfeed": one batch at a time
FEED_STREAM = "marketplace_feed"
TABLES = {
    RecordType.PROFILE: marketplace_profiles,
    RecordType.ORDER: marketplace_orders,
    RecordType.ENGAGEMENT: marketplace_engagement,
}
FEED_ROLES = ("marketplace",)  # the provider's signed feed; admin (the CLI) too
MAX_ERRORS_SHOWN = 100
_EPSILON = timedelta(microseconds=1)  # "in effect now" includes what this instant recorded


class FeedRefused(InvalidInput):
    code = "feed-refused"


class FeedConflict(Conflict):
    code = "event-id-conflict"


# --- consent ---------------------------------------------------------------------------------------


def _own(ctx: Ctx, customer_id: int) -> None:
    """The customer themselves, or admin; anyone else is told there is no such customer."""
    if ctx.actor.role == "customer" and ctx.actor.subject_id != customer_id:
        raise NotFound(f"customer {customer_id} not found")
    ctx.actor.require("customer")


def _events(ctx: Ctx, customer_ids: Sequence[int]) -> dict[int, list[ConsentEvent]]:
    c = marketplace_consents.c
    out: dict[int, list[ConsentEvent]] = {}
    for chunk in chunks(ctx.conn, list(customer_ids)):
        rows = ctx.conn.execute(
            select(c.customer_id, c.action, c.at, c.purpose, c.scope, c.notice_version)
            .where(among(ctx.conn, c.customer_id, chunk))
            .order_by(c.customer_id, c.id)
        )
        for r in rows:
            out.setdefault(r.customer_id, []).append(
                ConsentEvent(r.action, _utc(r.at), r.purpose, tuple(r.scope or ()), r.notice_version)
            )
    return out


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive UTC, PostgreSQL an aware time: one form."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _view(event: ConsentEvent) -> dict[str, Any]:
    return {**asdict(event), "scope": list(event.scope), "at": event.at.isoformat()}


def grant_consent(
    ctx: Ctx, customer_id: int, purpose: str, scope: Sequence[str], notice_version: str
) -> dict[str, Any]:
    """Record the shopper's consent to the use of their marketplace data: for which purpose, which
    record types, under which version of the notice they were shown. A new grant replaces the
    one in effect (a new notice version, a wider or narrower scope)."""
    _own(ctx, customer_id)
    scope_ = check_consent(purpose, scope, notice_version)
    lock_account(ctx, customer_id)
    before = consent_status(ctx, customer_id)["current"]
    row = {
        "customer_id": customer_id,
        "action": "grant",
        "purpose": purpose,
        "scope": list(scope_),
        "notice_version": notice_version,
        "at": ctx.now,
        "actor": str(ctx.actor),
    }
    ctx.conn.execute(marketplace_consents.insert(), row)
    after = _view(ConsentEvent("grant", _utc(ctx.now), purpose, scope_, notice_version))
    audit.record(
        ctx, f"customer:{customer_id}", "marketplace_consent.granted", "customer", customer_id, before, after
    )
    return {"customer_id": customer_id, "status": "ok", "current": after}


def withdraw_consent(ctx: Ctx, customer_id: int) -> dict[str, Any]:
    """Withdraw: from now on nothing of the feed is used (and nothing more is accepted). Withdrawing
    when no consent is in effect changes nothing and records nothing."""
    _own(ctx, customer_id)
    lock_account(ctx, customer_id)
    state = consent_status(ctx, customer_id)
    if state["current"] is None:
        return {**state, "changed": False}
    ctx.conn.execute(
        marketplace_consents.insert(),
        {"customer_id": customer_id, "action": "withdraw", "at": ctx.now, "actor": str(ctx.actor)},
    )
    audit.record(
        ctx,
        f"customer:{customer_id}",
        "marketplace_consent.withdrawn",
        "customer",
        customer_id,
        state["current"],
        None,
    )
    return {"customer_id": customer_id, "status": "withdrawn", "current": None, "changed": True}


def consent_status(ctx: Ctx, customer_id: int, history: bool = False) -> dict[str, Any]:
    """The consent in effect now (``current``: the grant, or None) and, with ``history``, every
    consent event, oldest first."""
    _own(ctx, customer_id)
    events = _events(ctx, [customer_id]).get(customer_id, [])
    status, grant = consent_at(events, _utc(ctx.now) + _EPSILON)
    out: dict[str, Any] = {
        "customer_id": customer_id,
        "status": status.value,
        "current": _view(grant) if grant else None,
    }
    if history:
        out["events"] = [_view(e) for e in events]
    return out


# --- ingestion -------------------------------------------------------------------------------------


def ingest(
    ctx: Ctx,
    records: Sequence[tuple[int, object]],
    where: str = "record",
    text: bool = False,
    max_batch: int | None = MAX_BATCH,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Check and store a batch of feed records, all or nothing.

    ``records`` are ``(position, raw)`` pairs: the position names a refused record (``where``:
    "record" for an API index, "line" for a file). ``text``: the values are CSV strings.
    ``progress`` is told how many records were written after each chunk."""
    ctx.actor.require(*FEED_ROLES)
    if max_batch is not None and len(records) > max_batch:
        raise FeedRefused(f"a batch holds at most {max_batch} records, not {len(records)}")
    if ctx.conn.dialect.name == "postgresql":
        ctx.conn.execute(select(func.pg_advisory_xact_lock(FEED_LOCK)))
    now = _utc(ctx.now)
    errors: list[dict[str, Any]] = []
    parsed: list[tuple[int, FeedRecord]] = []
    for position, raw in records:
        try:
            parsed.append((position, parse_record(raw, now, text)))
        except InvalidInput as exc:
            errors.append({where: position, "reason": exc.detail})
    consents = _events(ctx, sorted({r.customer_id for _, r in parsed}))
    for position, record in parsed:
        _, grant = consent_at(consents.get(record.customer_id, []), now + _EPSILON)
        if grant is None:
            errors.append({where: position, "reason": "no consent"})
        elif record.kind.value not in grant.scope:
            reason = f"no consent: {record.kind.value} is outside its scope"
            errors.append({where: position, "reason": reason})
    if errors:
        errors.sort(key=lambda e: e[where])
        first = errors[0]
        raise FeedRefused(
            f"{len(errors)} of {len(records)} {where}s refused, nothing written; "
            f"{where} {first[where]}: {first['reason']}",
            errors=errors[:MAX_ERRORS_SHOWN],
        )
    new, duplicates = _new_records(ctx, parsed, where)
    written = 0
    for kind, rows in new.items():
        for start in range(0, len(rows), MAX_BATCH):
            chunk = rows[start : start + MAX_BATCH]
            insert_rows(ctx.conn, TABLES[kind], [_row(r, d, ctx.now) for r, d in chunk])
            written += len(chunk)
            if progress:
                progress(written)
    summary = {
        "accepted": written,
        "duplicate": duplicates,
        "by_type": {k.value: len(v) for k, v in new.items()},
        "customers": len({r.customer_id for _, r in parsed}),
    }
    if written:
        batch = hashlib.sha256("\n".join(r.event_id for _, r in parsed).encode()).hexdigest()
        audit.record(ctx, FEED_STREAM, "marketplace_feed.ingested", "feed_batch", batch, None, summary)
    return summary


def _new_records(
    ctx: Ctx, parsed: Sequence[tuple[int, FeedRecord]], where: str
) -> tuple[dict[RecordType, list[tuple[FeedRecord, str]]], int]:
    """The records not stored yet (each with its digest), by type, and how many are resends."""
    new: dict[RecordType, list[tuple[FeedRecord, str]]] = {}
    seen: dict[tuple[RecordType, str], str] = {}
    by_kind: dict[RecordType, list[str]] = {}
    for _, r in parsed:
        by_kind.setdefault(r.kind, []).append(r.event_id)
    for kind, ids in by_kind.items():
        table = TABLES[kind]
        for chunk in chunks(ctx.conn, sorted(set(ids))):
            for event_id, stored in ctx.conn.execute(
                select(table.c.event_id, table.c.digest).where(among(ctx.conn, table.c.event_id, chunk))
            ):
                seen[(kind, event_id)] = stored
    duplicates, conflicts = 0, []
    for position, r in parsed:
        d = digest(r)
        stored = seen.get((r.kind, r.event_id))
        if stored is None:
            seen[(r.kind, r.event_id)] = d
            new.setdefault(r.kind, []).append((r, d))
        elif stored == d:
            duplicates += 1
        else:
            reason = f"event_id {r.event_id} was sent with other content"
            conflicts.append({where: position, "reason": reason})
    if conflicts:
        raise FeedConflict(
            f"{len(conflicts)} {where}s reuse an event id with other content, nothing written; "
            f"{where} {conflicts[0][where]}: {conflicts[0]['reason']}",
            errors=conflicts[:MAX_ERRORS_SHOWN],
        )
    return new, duplicates


def _row(record: FeedRecord, d: str, now: datetime) -> dict[str, Any]:
    row = values(record)
    for key, value in row.items():
        if isinstance(value, StrEnum):  # enums as their text
            row[key] = value.value
    if "real_name_verified" in row:
        row["real_name_verified"] = int(row["real_name_verified"])
    return {**row, "ingested_at": now, "digest": d}


def parse_batch(raw: object, max_batch: int = MAX_BATCH) -> list[tuple[int, object]]:
    """The records of an API body ``{"records": [...]}``, each with its index (0-based)."""
    if not isinstance(raw, Mapping) or set(raw) != {"records"} or not isinstance(raw["records"], list):
        raise FeedRefused('the body must be {"records": [...]}')
    records: list[object] = raw["records"]
    if not records:
        raise FeedRefused("the batch is empty")
    if len(records) > max_batch:
        raise FeedRefused(f"a batch holds at most {max_batch} records, not {len(records)}")
    return list(enumerate(records))


def feed_features(ctx: Ctx, customer_id: int, at: datetime | None = None) -> dict[str, Any]:
    """The feed features of one shopper as of ``at`` (default now), with their ``feed_status``."""
    _own(ctx, customer_id)
    from bnpl.credit.feed_features import feed_features as compute

    moment = _utc(at or ctx.now)
    return {
        "customer_id": customer_id,
        "as_of": moment.isoformat(),
        **compute(ctx.conn, customer_id, moment).as_dict(),
    }
