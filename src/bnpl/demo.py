"""Demo data for `bnpl serve --demo`: two merchants, three shoppers, orders in several states, and one
member of staff per console role."""

from __future__ import annotations

import json
import secrets
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console

from bnpl.domain.orders import Item
from bnpl.runtime import ADMIN, Actor, Platform
from bnpl.services import orders, parties, queries, repayments

KEYS_FILE = Path("var/demo-keys.json")


def seed(platform: Platform, console: Console) -> dict[str, Any]:
    """Create the demo world once; later runs print the keys saved the first time."""
    with platform.read() as ctx:
        existing = queries.merchant_count(ctx)
    if existing and KEYS_FILE.exists():
        keys: dict[str, Any] = json.loads(KEYS_FILE.read_text())
        _show(console, platform, keys)
        return keys
    tea = platform.run(
        ADMIN, lambda c: parties.create_merchant(c, "Demo Tea House", 60, 7, 3, ["tea", "teaware"])
    )
    phones = platform.run(
        ADMIN, lambda c: parties.create_merchant(c, "Demo Phone Store", 120, 7, 7, ["phones"])
    )
    shoppers = [
        platform.run(ADMIN, partial(parties.create_customer, name=name, credit_limit=limit))
        for name, limit in (
            ("Demo Shopper 1", 2000_00),
            ("Demo Shopper 2", 800_00),
            ("Demo Shopper 3", 300_00),
        )
    ]
    tea_actor = Actor("merchant", tea["id"])

    def buy(customer: dict[str, Any], items: list[Item], plan: str = "pay_after_trial") -> dict[str, Any]:
        cmd = orders.AuthorizeCommand(
            tea["id"],
            customer["id"],
            items,
            plan,
            "live_stream",
            stream_id="live-001",
            creator_id="creator-7",
        )
        return platform.run(tea_actor, lambda c: orders.authorize(c, cmd))

    first = buy(shoppers[0], [Item("longjing-250g", "tea", 168_00, 1), Item("cup-set", "teaware", 89_00, 1)])
    platform.run(tea_actor, lambda c: orders.capture(c, first["id"]))
    platform.run(Actor("customer", shoppers[0]["id"]), lambda c: orders.deliver(c, first["id"]))
    second = buy(shoppers[1], [Item("puer-cake", "tea", 320_00, 1)], plan="m3")
    platform.run(tea_actor, lambda c: orders.capture(c, second["id"]))
    platform.run(
        Actor("customer", shoppers[1]["id"]), lambda c: repayments.repay(c, shoppers[1]["id"], 50_00)
    )
    buy(shoppers[2], [Item("oolong-100g", "tea", 58_00, 2)])
    keys = {
        "console": _staff(platform, tea["id"]),
        "admin": platform.settings.admin_key,
        "merchants": {m["name"]: {"id": m["id"], "api_key": m["api_key"]} for m in (tea, phones)},
        "customers": {s["name"]: {"id": s["id"], "api_key": s["api_key"]} for s in shoppers},
    }
    KEYS_FILE.parent.mkdir(parents=True, exist_ok=True)
    KEYS_FILE.write_text(json.dumps(keys, ensure_ascii=False, indent=2))
    _show(console, platform, keys)
    return keys


def _staff(platform: Platform, merchant_id: int) -> dict[str, Any]:
    """One member of staff per console role, sharing one generated password (demo only)."""
    from bnpl.collections.cases import create_agent
    from bnpl.services.staff import one_per_role

    password = secrets.token_urlsafe(12)
    skills = ["M1", "M2", "M3", "M3+"]
    agents = {
        role: platform.run(ADMIN, partial(create_agent, name=f"Demo {role}", role=role, skills=skills))["id"]
        for role in ("agent", "supervisor", "field_agent")
    }
    platform.run(ADMIN, partial(create_agent, name="Demo field agent 2", role="field_agent", skills=skills))
    users = platform.run(
        ADMIN,
        lambda ctx: one_per_role(
            ctx,
            "demo.{role}",
            password,
            agents["agent"],
            agents["supervisor"],
            agents["field_agent"],
            merchant_id,
        ),
    )
    return {"users": list(users.values()), "password": password}


def _show(console: Console, platform: Platform, keys: dict[str, Any]) -> None:
    console.print("[bold]Demo data ready[/bold] (keys saved in var/demo-keys.json):")
    if "console" in keys:
        staff = keys["console"]
        console.print(f"  console (/console): {', '.join(staff['users'])}, password {staff['password']}")
    console.print(f"  admin key: {keys['admin']}")
    for name, v in {**keys["merchants"], **keys["customers"]}.items():
        console.print(f"  {name} (id {v['id']}): {v['api_key']}")
    console.print(f"  business date: {platform.clock.today().isoformat()}")
