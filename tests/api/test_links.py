"""The OpenAPI links: each names an operation that exists and a parameter it takes, and the value
it points at in the response is there (following the order flow's links over HTTP works)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api


def resolve(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return dict(node)


def all_links(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", status, link)
        for path, operations in spec["paths"].items()
        for method, op in operations.items()
        for status, response in op["responses"].items()
        for link in response.get("links", {}).values()
    ]


def test_every_link_names_an_operation_and_one_of_its_parameters(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    links = all_links(spec)
    assert len(links) > 30
    for source, status, link in links:
        target = resolve(spec, link["operationRef"])
        names = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
        assert set(link["parameters"]) <= names, (source, link)
        assert status.startswith("2"), source


def test_following_the_order_links_over_http(api: Api) -> None:
    """What the links promise: the id in POST /orders' answer is the order_id of capture and deliver,
    the id in POST .../returns' answer the return_id of confirm."""
    s = api.setup()
    spec = api.client.get("/openapi.json").json()
    links = spec["paths"]["/orders"]["post"]["responses"]["201"]["links"]
    created = api.checkout(s).json()
    mkey, ckey = s["merchant"]["api_key"], s["customer"]["api_key"]

    def follow(link: dict[str, Any], body: dict[str, Any]) -> str:
        ((name, expression),) = link["parameters"].items()
        value = body
        for part in expression.removeprefix("$response.body#/").split("/"):
            value = value[int(part)] if isinstance(value, list) else value[part]
        path = link["operationRef"].removeprefix("#/paths/").rsplit("/", 1)[0].replace("~1", "/")
        return path.replace(f"{{{name}}}", str(value))

    assert api.post(follow(links["PostOrdersCapture"], created), mkey).json()["status"] == "captured"
    assert api.post(follow(links["PostOrdersDeliver"], created), ckey).json()["status"] == "delivered"
    ret = api.post(
        follow(links["PostOrdersReturns"], created), ckey, {"items": [{"sku": "tea-1", "quantity": 1}]}
    )
    assert ret.status_code == 201
    return_links = spec["paths"]["/orders/{order_id}/returns"]["post"]["responses"]["201"]["links"]
    assert (
        api.post(follow(return_links["PostReturnsConfirm"], ret.json()), mkey).json()["status"] == "confirmed"
    )
    statement = follow(links["GetCustomersStatement"], created)
    assert api.get(statement, ckey).status_code == 200
