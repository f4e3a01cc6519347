"""Request and response schemas. Money is a strict integer count of fen: 12.5 or "1250" is refused.

Every request body is a ``Strict`` model: unknown fields are refused, and so is any string that
UTF-8 cannot encode; every integer in one is bounded (the shared types are in ``api/types.py``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from bnpl.api.types import Fen, Id, LimitFen, Quantity, Text, refuse_unencodable

PlanCode = Literal["pay_after_trial", "m3", "m6", "m12"]


class Strict(BaseModel):
    """The base of every request body."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        return refuse_unencodable(data)


class MerchantIn(Strict):
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    mdr_bps: Annotated[StrictInt, Field(ge=0, le=2000, description="merchant discount rate in basis points")]
    trial_days: Annotated[StrictInt, Field(ge=0, le=30)] = 7
    settlement_delay_days: Annotated[StrictInt, Field(ge=0, le=90)] = 7
    categories: list[Annotated[Text, Field(min_length=1, max_length=64)]] = []


class MerchantOut(BaseModel):
    id: int
    name: str
    mdr_bps: int
    trial_days: int
    settlement_delay_days: int
    categories: list[str]
    outstanding_cap: int | None = Field(None, description="fen; null: the policy's default for its age")
    api_key: str | None = Field(None, description="shown once, at creation; null in a replay")
    api_key_shown: str | None = Field(
        None, description="in a replay only: the key was shown once, in the first answer, and is not stored"
    )


class CustomerIn(Strict):
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    credit_limit: LimitFen
    timezone: Annotated[Text, Field(max_length=64)] = "Asia/Shanghai"
    phone: Annotated[Text, Field(max_length=32)] | None = None
    address: Annotated[Text, Field(max_length=300)] | None = None  # registered address (field visits)


class AccountOut(BaseModel):
    currency: str
    limit: int
    outstanding: int
    holds: int
    available: int
    credit_balance: int
    chargeback_owed: int = 0  # owed again after a charged-back payment (see the statement)
    state: str
    own_limit: int | None = None
    paused_until: str | None = None


class CustomerOut(BaseModel):
    id: int
    name: str
    timezone: str
    account: AccountOut
    api_key: str | None = Field(None, description="shown once, at creation; null in a replay")
    api_key_shown: str | None = Field(
        None, description="in a replay only: the key was shown once, in the first answer, and is not stored"
    )


class ControlsIn(Strict):
    """Omit a field to leave it as it is. ``own_limit: null`` clears the ceiling; ``pause_days: 0``
    resumes now."""

    own_limit: LimitFen | None = None
    pause_days: Annotated[StrictInt, Field(ge=0, le=365)] | None = None


class AccountPatch(Strict):
    credit_limit: LimitFen | None = None
    state: Literal["active", "frozen", "closed", "blocked"] | None = None


class ItemIn(Strict):
    sku: Annotated[Text, Field(min_length=1, max_length=64)]
    category: Annotated[Text, Field(min_length=1, max_length=64)]
    unit_price: Fen
    quantity: Quantity


class AuthorizeIn(Strict):
    customer_id: Id
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=100)]
    plan: PlanCode = "pay_after_trial"
    channel: Literal["live_stream", "short_video", "mall"] = "mall"
    currency: StrictStr = "CNY"
    fee_payer: Literal["customer", "merchant"] = "customer"
    stream_id: Annotated[Text, Field(max_length=64)] | None = None
    creator_id: Annotated[Text, Field(max_length=64)] | None = None
    device_id: Annotated[Text, Field(max_length=128)] | None = None
    address_hash: Annotated[Text, Field(max_length=128)] | None = None


MAX_BATCH_ORDERS = 200  # a batch is one transaction: bounded, so its locks and its latency are


class BatchOrderIn(AuthorizeIn):
    """One checkout of a batch, with its own Idempotency-Key (the same key a single
    ``POST /orders`` of this body would send: either replays the other)."""

    idempotency_key: Annotated[str, Field(min_length=1, max_length=255)]


class BatchIn(Strict):
    orders: Annotated[list[BatchOrderIn], Field(min_length=1, max_length=MAX_BATCH_ORDERS)]


class ReturnItemIn(Strict):
    sku: Annotated[Text, Field(min_length=1, max_length=64)]
    quantity: Quantity


class ReturnIn(Strict):
    items: Annotated[list[ReturnItemIn], Field(min_length=1)]
    reason: Annotated[Text, Field(max_length=500)] | None = None


class ConvertIn(Strict):
    plan: Literal["m3", "m6", "m12"]


class AmountIn(Strict):
    amount: Fen
    currency: StrictStr = "CNY"


class ReviewIn(Strict):
    approve: StrictBool
    note: Annotated[Text, Field(min_length=1, max_length=500)]


class ReverseIn(Strict):
    reason: Annotated[Text, Field(min_length=1, max_length=500)]


class PaymentCallbackIn(Strict):
    payment_id: Annotated[Text, Field(min_length=1, max_length=128)]
    customer_id: Id
    amount: Fen
    currency: StrictStr = "CNY"
    status: Literal["succeeded", "failed"]


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An error (application/problem+json). Some codes add fields: a validation error lists each
    field's problem in ``errors``."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldProblem] | None = None


# --- responses (documentation of what comes back; money in fen, dates ISO 8601) -------------


class ReasonOut(BaseModel):
    code: str
    en: str
    zh: str


class DecisionOut(BaseModel):
    id: int
    outcome: Literal["approve", "decline", "review", "approve_lower"]
    approved_amount: int
    reasons: list[ReasonOut]
    versions: dict[str, str]


class ItemOut(BaseModel):
    sku: str
    category: str
    unit_price: int
    quantity: int
    returned_quantity: int
    pending_quantity: int


class InstalmentOut(BaseModel):
    obligation_id: int
    seq: int
    due_date: str
    principal: int
    fee: int
    # left out for merchants: whether the customer has paid is the customer's business
    principal_paid: int | None = None
    fee_paid: int | None = None
    status: Literal["open", "paid", "closed", "converted"] | None = None


class BatchResultOut(BaseModel):
    idempotency_key: str
    status: int  # what a single POST /orders would have answered: 201, or a 4xx with a problem
    replayed: bool
    body: dict[str, Any]  # the order, or application/problem+json for a refused checkout


class BatchOut(BaseModel):
    results: list[BatchResultOut]


class OrderOut(BaseModel):
    id: int
    merchant_id: int
    customer_id: int
    status: Literal[
        "authorized", "review", "declined", "cancelled", "expired", "captured", "delivered", "returned"
    ]
    currency: str
    amount: int
    returned_amount: int
    pending_return_amount: int
    plan: str
    fee_payer: str
    channel: str
    stream_id: str | None
    creator_id: str | None
    mdr_amount: int
    merchant_fee: int
    authorized_on: str | None
    expires_on: str | None
    captured_on: str | None
    delivered_on: str | None
    trial_ends_on: str | None
    settle_on: str | None
    settled_on: str | None
    items: list[ItemOut]
    schedule: list[InstalmentOut]
    decision: DecisionOut | None


class OrderEventOut(BaseModel):
    id: int
    status: str


class ReturnOut(BaseModel):
    id: int
    order_id: int
    status: Literal["requested", "confirmed", "rejected"]
    amount: int
    items: dict[str, int]
    reason: str | None
    requested_on: str
    resolved_on: str | None


class AllocationOut(BaseModel):
    order_id: int | None
    obligation_id: int | None
    component: Literal["fee", "principal", "recovery"]  # recovery: on a bill already charged off
    amount: int


class PaymentOut(BaseModel):
    id: int
    customer_id: int
    amount: int
    currency: str
    provider_ref: str | None
    business_date: str
    allocations: list[AllocationOut]
    to_credit_balance: int
    to_chargeback: int = 0  # paid off a chargeback owed again
    replayed: bool


class PayoffQuoteOut(BaseModel):
    order_id: int
    principal: int
    fees: int
    fees_waived: int
    amount: int
    business_date: str
