"""OpenAPI links: where the id a response carries can be used next (an order → capture, deliver,
returns...; a customer → statement, repayments...; a case → contacts, promises...).

They document the main flows for a reader of ``/docs``, and a stateful fuzzer (schemathesis) follows
them to reach objects that exist instead of guessing ids. ``add_links`` writes them into the
generated schema; a test checks that every link names an operation and a parameter that exist.
"""

from __future__ import annotations

from typing import Any

ORDER = ["GET /orders/{order_id}", "GET /orders/{order_id}/payoff-quote"] + [
    f"POST /orders/{{order_id}}/{action}"
    for action in ("capture", "deliver", "cancel", "returns", "convert", "review", "payoff")
]
RETURN = ["GET /returns/{return_id}", "POST /returns/{return_id}/confirm", "POST /returns/{return_id}/reject"]
CUSTOMER = [
    "GET /customers/{customer_id}",
    "GET /customers/{customer_id}/statement",
    "GET /customers/{customer_id}/credit",
    "POST /customers/{customer_id}/repayments",
    "POST /customers/{customer_id}/refunds",
    "POST /customers/{customer_id}/controls",
    "POST /customers/{customer_id}/flags",
]
MERCHANT = ["GET /merchants/{merchant_id}", "GET /merchants/{merchant_id}/balances"]
CASE = [
    "GET /collections/cases/{case_id}",
    "POST /collections/cases/{case_id}/contacts",
    "POST /collections/cases/{case_id}/promises",
    "POST /collections/cases/{case_id}/plans",
    "POST /collections/cases/{case_id}/visits",
]
VISIT = [f"POST /collections/visits/{{visit_id}}/{step}" for step in ("approval", "decline", "outcome")]

# (operation, status) -> [(parameter, where its value is in the response, operations that take it)]
LINKS: dict[tuple[str, str], list[tuple[str, str, list[str]]]] = {
    ("POST /orders", "201"): [
        ("order_id", "$response.body#/id", ORDER),
        ("customer_id", "$response.body#/customer_id", CUSTOMER),
    ],
    ("GET /orders", "200"): [("order_id", "$response.body#/0/id", ORDER)],
    ("GET /reviews", "200"): [("order_id", "$response.body#/0/id", ["POST /orders/{order_id}/review"])],
    ("POST /orders/{order_id}/returns", "201"): [("return_id", "$response.body#/id", RETURN)],
    ("POST /customers", "201"): [("customer_id", "$response.body#/id", CUSTOMER)],
    ("POST /merchants", "201"): [("merchant_id", "$response.body#/id", MERCHANT)],
    ("POST /customers/{customer_id}/repayments", "201"): [
        ("payment_id", "$response.body#/id", ["POST /admin/payments/{payment_id}/reverse"])
    ],
    ("GET /collections/queue", "200"): [("case_id", "$response.body#/0/id", CASE)],
    ("POST /collections/cases/{case_id}/visits", "201"): [("visit_id", "$response.body#/id", VISIT)],
    ("POST /collections/cases/{case_id}/plans", "201"): [
        ("plan_id", "$response.body#/id", ["POST /collections/plans/{plan_id}/decision"])
    ],
}


def _pointer(operation: str) -> str:
    method, path = operation.split(" ", 1)
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method.lower()


def _name(operation: str) -> str:
    """``POST /orders/{order_id}/capture`` -> ``PostOrdersCapture``: a link's name."""
    method, path = operation.split(" ", 1)
    words = [method.lower()] + [w for w in path.strip("/").split("/") if not w.startswith("{")]
    return "".join(w.replace("-", " ").title().replace(" ", "") for w in words)


def add_links(schema: dict[str, Any]) -> dict[str, Any]:
    """Write ``LINKS`` into ``schema`` (the generated OpenAPI document) and return it."""
    paths = schema.get("paths", {})
    for (source, status), targets in LINKS.items():
        method, path = source.split(" ", 1)
        response = paths[path][method.lower()]["responses"][status]
        links = response.setdefault("links", {})
        for parameter, expression, operations in targets:
            for operation in operations:
                links[_name(operation)] = {
                    "operationRef": _pointer(operation),
                    "parameters": {parameter: expression},
                }
    return schema
