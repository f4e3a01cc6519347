"""The HTTP API: FastAPI routers, Pydantic schemas, API-key auth, idempotency, problem+json."""
