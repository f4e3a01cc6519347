"""Request and response schemas. Money is a strict integer count of fen: 12.5 or "1250" is refused."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

Fen = Annotated[StrictInt, Field(gt=0, le=10**12, description="amount in fen (1 yuan = 100 fen)")]
Currency = Literal["CNY"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MerchantIn(Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    mdr_bps: Annotated[StrictInt, Field(ge=0, le=2000, description="merchant discount rate in basis points")]
    trial_days: Annotated[StrictInt, Field(ge=0, le=30)] = 7
    settlement_delay_days: Annotated[StrictInt, Field(ge=0, le=90)] = 7
    categories: list[Annotated[StrictStr, Field(min_length=1, max_length=64)]] = []


class MerchantOut(BaseModel):
    id: int
    name: str
    mdr_bps: int
    trial_days: int
    settlement_delay_days: int
    categories: list[str]
    api_key: str | None = Field(None, description="shown once, at creation")


class CustomerIn(Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    credit_limit: Annotated[StrictInt, Field(ge=0, le=100_000_000)]
    timezone: StrictStr = "Asia/Shanghai"


class AccountOut(BaseModel):
    currency: str
    limit: int
    outstanding: int
    holds: int
    available: int
    credit_balance: int
    state: str


class CustomerOut(BaseModel):
    id: int
    name: str
    timezone: str
    account: AccountOut
    api_key: str | None = Field(None, description="shown once, at creation")


class AccountPatch(Strict):
    credit_limit: Annotated[StrictInt, Field(ge=0, le=100_000_000)] | None = None
    state: Literal["active", "frozen", "closed", "blocked"] | None = None


class ItemIn(Strict):
    sku: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    category: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    unit_price: Fen
    quantity: Annotated[StrictInt, Field(gt=0, le=10_000)]


class AuthorizeIn(Strict):
    customer_id: StrictInt
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=100)]
    plan: StrictStr = "pay_after_trial"
    channel: Literal["live_stream", "short_video", "mall"] = "mall"
    currency: StrictStr = "CNY"
    fee_payer: Literal["customer", "merchant"] = "customer"
    stream_id: Annotated[StrictStr, Field(max_length=64)] | None = None
    creator_id: Annotated[StrictStr, Field(max_length=64)] | None = None
    device_id: Annotated[StrictStr, Field(max_length=128)] | None = None
    address_hash: Annotated[StrictStr, Field(max_length=128)] | None = None


class ReturnItemIn(Strict):
    sku: StrictStr
    quantity: Annotated[StrictInt, Field(gt=0)]


class ReturnIn(Strict):
    items: Annotated[list[ReturnItemIn], Field(min_length=1)]
    reason: Annotated[StrictStr, Field(max_length=500)] | None = None


class ConvertIn(Strict):
    plan: StrictStr


class AmountIn(Strict):
    amount: Fen
    currency: StrictStr = "CNY"


class DeliverIn(Strict):
    pass


class PaymentCallbackIn(Strict):
    payment_id: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    customer_id: StrictInt
    amount: Fen
    currency: StrictStr = "CNY"
    status: Literal["succeeded", "failed"]


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
