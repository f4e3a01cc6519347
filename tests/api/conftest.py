from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bnpl.app import create_app
from bnpl.runtime import Platform

ADMIN_KEY = "dev-admin-key"
_keys = itertools.count()


class Api:
    """A TestClient that signs requests and adds a fresh Idempotency-Key to each POST."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def post(self, path: str, key: str, body: Any = None, idem: str | None = None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": idem or f"k-{next(_keys)}"}
        return self.client.post(path, json=body, headers=headers, **kw)

    def get(self, path: str, key: str, **kw: Any) -> Any:
        return self.client.get(path, headers={"Authorization": f"Bearer {key}"}, **kw)

    def setup(self, limit: int = 1000_00) -> dict[str, Any]:
        m = self.post(
            "/merchants",
            ADMIN_KEY,
            {
                "name": "Tea House",
                "mdr_bps": 100,
                "trial_days": 7,
                "settlement_delay_days": 3,
                "categories": ["tea"],
            },
        ).json()
        other = self.post(
            "/merchants", ADMIN_KEY, {"name": "Other", "mdr_bps": 100, "categories": ["tea"]}
        ).json()
        c = self.post("/customers", ADMIN_KEY, {"name": "Shopper", "credit_limit": limit}).json()
        return {"merchant": m, "other": other, "customer": c}

    def checkout(self, s: dict[str, Any], amount: int = 100_00, qty: int = 1, **extra: Any) -> Any:
        body = {
            "customer_id": s["customer"]["id"],
            "items": [{"sku": "tea-1", "category": "tea", "unit_price": amount, "quantity": qty}],
            **extra,
        }
        return self.post("/orders", s["merchant"]["api_key"], body)


@pytest.fixture
def api(platform: Platform) -> Iterator[Api]:
    with TestClient(create_app(platform)) as client:
        yield Api(client)
