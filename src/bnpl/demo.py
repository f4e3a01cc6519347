"""The demo book for `bnpl serve --demo`: a living portfolio, not an empty shop.

The book is a short simulated history (:data:`CONFIG`: a few thousand shoppers over four months)
run through the real services by the marketplace simulator (``bnpl.sim``) with a seeded champion
model, ending on the day before today, so that today is the open business date: end of day
(`bnpl eod run`, ``POST /admin/eod``) and the README's tours work on it at once. On top of the
season, the morning of today brings what a new user should find waiting: checkouts in manual review
(one device shared by several new buyers) and a field visit for the supervisor to approve. Then one
member of staff per console role, linked to the simulated desk: the agent is the one with the most
open cases (their queue is full and their customers open), the supervisor and field agent are the
simulated ones, the merchant the busiest shop.

The book is built once and kept (``var/bnpl.db``, keys in ``var/demo-keys.json``): a later start
on the same day reuses it, one a few days later closes the missed dates first (end of day's
catch-up, as an operator would), and one after a longer gap builds a fresh book.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console

from bnpl.collections import visits as visit_service
from bnpl.collections import work as collections_work
from bnpl.domain.errors import DomainError, InvalidState
from bnpl.domain.orders import Item
from bnpl.eod import catch_up
from bnpl.runtime import ADMIN, Actor, Platform
from bnpl.services import apikeys, business_days, queries
from bnpl.services import orders as order_service
from bnpl.services.staff import one_per_role
from bnpl.sim.engine import DB_NAME, SimConfig, Simulation
from bnpl.sim.policy import load_policy

KEYS_FILE = Path("var/demo-keys.json")
CONFIG = SimConfig(customers=2_000, days=120, seed=7)  # ~30 s on a laptop; start set to end yesterday
CATCH_UP_DAYS = 7  # a book this many days behind is caught up; further behind, rebuilt
SHARED_DEVICE = "demo-shared-device"  # the device behind the checkouts waiting for review
REVIEWS = 3


@dataclass(frozen=True)
class Book:
    """Where the demo book lives and which day it opens on."""

    database: Path
    keys_file: Path
    today: date


def prepare(platform: Platform, console: Console, keys_file: Path = KEYS_FILE) -> dict[str, Any]:
    """Make the platform's (SQLite) database the demo book for today, building it if needed, and
    print the keys; returns them."""
    book = Book(_sqlite_path(platform.settings.database_url), keys_file, platform.clock.today())
    saved = _saved(book)
    with platform.read() as ctx:
        has_data = queries.merchant_count(ctx) > 0
        last = business_days.last_closed(ctx.conn)
    if has_data and saved is None:
        raise InvalidState(
            f"{book.database} holds data that is not the demo's: move it away or point "
            "BNPL_DATABASE_URL at another file for the demo"
        )
    opened = last + timedelta(days=1) if last else None
    if saved is not None and saved.get("book") and opened is not None:
        if opened >= book.today:  # today is open, or its end of day already ran
            _show(console, book, saved)
            return saved
        if book.today - timedelta(days=CATCH_UP_DAYS) <= opened < book.today:
            console.print(f"Closing the business dates {opened} to {book.today - timedelta(days=1)}…")
            catch_up(platform, book.today - timedelta(days=1))
            _show(console, book, saved)
            return saved
    console.print(
        f"Building the demo book: {CONFIG.customers:,} shoppers over {CONFIG.days} days up to "
        f"{book.today - timedelta(days=1)} (about half a minute)…"
    )
    keys = build(book, CONFIG, console)
    platform.engine.dispose()  # the platform's next connection opens the new file
    _show(console, book, keys)
    return keys


def build(book: Book, config: SimConfig, console: Console | None = None) -> dict[str, Any]:
    """Simulate the season into a scratch folder beside the database, add the morning and the
    staff, then move it into place; write and return the keys."""
    start = book.today - timedelta(days=config.days)
    config = SimConfig(config.customers, config.days, config.seed, start, config.shape, config.behaviour)
    scratch = book.database.parent / "demo-build"
    shutil.rmtree(scratch, ignore_errors=True)
    sim = Simulation(config, load_policy("baseline"), scratch)

    def progress(day: int) -> None:
        if console is not None and day % 30 == 29:
            console.print(f"  {sim.date_of(day)}: day {day + 1} of {config.days}")

    sim.run(progress)
    sim.clock.set_time(book.today, 1)  # 09:00 in Shanghai on the open business date
    keys = {
        "book": {"database": _relative(book), "built_for": book.today.isoformat()},
        **_morning(sim),
    }
    sim.platform.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{book.database}{suffix}").unlink(missing_ok=True)
    book.database.parent.mkdir(parents=True, exist_ok=True)
    os.replace(scratch / DB_NAME, book.database)
    shutil.rmtree(scratch, ignore_errors=True)
    book.keys_file.parent.mkdir(parents=True, exist_ok=True)
    book.keys_file.write_text(json.dumps(keys, ensure_ascii=False, indent=2))
    return keys


def _morning(sim: Simulation) -> dict[str, Any]:
    """Today's first hour on top of the season: reviews waiting, a visit to approve, staff, keys."""
    p = sim.platform
    agent_id, visit_cases = _visits(sim)
    busiest = sorted(
        range(len(sim.merchant_ids)),
        key=lambda m: -sum(1 for loan in sim.truth.loans.values() if loan.merchant == m),
    )
    merchant_ids = [sim.merchant_ids[m] for m in busiest[:2]]
    reviews = _reviews(sim, merchant_ids[0])
    password = secrets.token_urlsafe(12)
    supervisor_id = sim.supervisor_id
    assert supervisor_id is not None  # the baseline policy staffs field visits
    users = p.run(
        ADMIN,
        lambda ctx: one_per_role(
            ctx, "demo.{role}", password, agent_id, supervisor_id, sim.field_agent_ids[0], merchant_ids[0]
        ),
    )
    good = _customers_in_good_standing(sim)[:2]
    with p.read(Actor("agent", agent_id)) as ctx:
        overdue = [int(case["customer_id"]) for case in collections_work.queue(ctx, agent_id, limit=1)]
    names = {c: f"Shopper {sim.shopper_of[c] + 1}" for c in [*good, *overdue]}  # as the season named them
    merchant_names = {
        m: f"Shop {sim.merchant_ids.index(m) + 1} ({sim.category[sim.merchant_ids.index(m)]})"
        for m in merchant_ids
    }

    def key(kind: str, subject: int) -> str:
        return str(p.run(ADMIN, partial(apikeys.rotate, kind=kind, subject_id=subject))["api_key"])

    return {
        "console": {"users": list(users.values()), "password": password},
        "admin": p.settings.admin_key,
        "merchants": {merchant_names[m]: {"id": m, "api_key": key("merchant", m)} for m in merchant_ids},
        "customers": {
            f"{names[c]}{' (overdue)' if c in overdue else ''}": {"id": c, "api_key": key("customer", c)}
            for c in [*good, *overdue]
        },
        "waiting": {"reviews": reviews, "visit_cases": visit_cases},
    }


def _visits(sim: Simulation) -> tuple[int, list[int]]:
    """The agent with the most open cases asks today for field visits on two of them (the first
    cases that the field-visit rule allows; if theirs allow fewer, the next agents ask). The
    supervisor approves the first for a morning after the notice days, so the field agent has a
    visit scheduled; the second waits for approval. Returns the busiest agent and the cases."""
    p = sim.platform
    queues: dict[int, list[dict[str, Any]]] = {}
    for agent_id in sim.agent_ids:
        with p.read(Actor("agent", agent_id)) as ctx:
            queues[agent_id] = collections_work.queue(ctx, agent_id, limit=500)
    ranked = sorted(queues, key=lambda a: -len(queues[a]))
    asked: list[dict[str, Any]] = []
    for agent_id in ranked:  # the busiest agent first
        with p.read() as ctx:
            problems = visit_service.request_problems_by_id(ctx, [c["id"] for c in queues[agent_id]])
        for case_id in [c for c, against in problems.items() if not against]:
            if len(asked) == 2:
                break
            made = sim.attempt(
                Actor("agent", agent_id),
                partial(
                    visit_service.request_visit,
                    case_id=case_id,
                    agent_id=agent_id,
                    reason="no payment after calls and letters",
                ),
            )
            if made:
                asked.append(made)
    if len(asked) == 2 and sim.supervisor_id is not None:
        a, b = sim.field_agent_ids
        # the customer is told now, the visit_notice_days ahead the policy asks for
        day = sim.clock.today() + timedelta(days=sim.platform.settings.collections.visit_notice_days)
        sim.attempt(
            Actor("supervisor", sim.supervisor_id),
            partial(
                visit_service.approve_visit,
                visit_id=asked[0]["id"],
                supervisor_id=sim.supervisor_id,
                agent_a=a,
                agent_b=b,
                slot=datetime.combine(day, time(10)),  # the customer's local time
            ),
        )
    return ranked[0], [int(v["case_id"]) for v in asked]


def _customers_in_good_standing(sim: Simulation) -> list[int]:
    """Customers whose every loan in the season was drawn good and honest, most loans first."""
    loans: dict[int, list[Any]] = {}
    for loan in sim.truth.loans.values():
        loans.setdefault(loan.customer_id, []).append(loan)
    good = [c for c, ls in loans.items() if all(not loan.bad and loan.fraud == "none" for loan in ls)]
    return sorted(good, key=lambda c: (-len(loans[c]), c))


def _reviews(sim: Simulation, merchant_id: int) -> int:
    """Good customers check out one after another on one device they never used: the shared-device
    rule sends the later ones to manual review. Returns how many wait there."""
    merchant = Actor("merchant", merchant_id)
    waiting = 0
    for customer_id in _customers_in_good_standing(sim)[2:40]:
        cmd = order_service.AuthorizeCommand(
            merchant_id,
            customer_id,
            [Item("demo-basket", sim.category[sim.merchant_ids.index(merchant_id)], 19_90, 1)],
            channel="live_stream",
            stream_id="demo-live",
            device_id=SHARED_DEVICE,
        )
        try:
            made = sim.platform.run(merchant, partial(order_service.authorize, cmd=cmd))
        except DomainError:
            continue
        waiting += made["status"] == "review"
        if waiting >= REVIEWS:
            break
    return waiting


def _sqlite_path(url: str) -> Path:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix or ":memory:" in url:
        raise InvalidState(
            "the demo book is a SQLite file: unset BNPL_DATABASE_URL or set it to sqlite:///a/file.db"
        )
    return Path(url.removeprefix(prefix))


def _saved(book: Book) -> dict[str, Any] | None:
    """The keys saved with this database's demo book (earlier demos saved no ``book``: rebuilt)."""
    if not book.keys_file.exists():
        return None
    keys: dict[str, Any] = json.loads(book.keys_file.read_text())
    where = keys.get("book", {}).get("database")
    if where is not None and where != _relative(book):
        return None
    return keys


def _relative(book: Book) -> str:
    """The database as seen from the keys file's folder (the two move together)."""
    return os.path.relpath(book.database.resolve(), book.keys_file.parent.resolve())


def _show(console: Console, book: Book, keys: dict[str, Any]) -> None:
    console.print(f"[bold]Demo book ready[/bold] (keys saved in {book.keys_file}):")
    staff = keys["console"]
    console.print(f"  console (/console): {', '.join(staff['users'])}, password {staff['password']}")
    console.print(f"  admin key: {keys['admin']}")
    for name, v in {**keys["merchants"], **keys["customers"]}.items():
        console.print(f"  {name} (id {v['id']}): {v['api_key']}")
    console.print(f"  open business date: {book.today.isoformat()}")
