"""Order exceptions: what the rule engine finds on an order and how it is routed to a person.

Tags name the problem (contract: the six below; the rules file may add more). A tag's severity
decides whether the order is only flagged (it goes on, visible in its team's queue) or held
(ON_HOLD with the reason until a person resolves it). No personal data in any of these: a hit's
reason says what kind of problem it is, never the address or phone that showed it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from models.order import Buyer, Order

FUZZY_ADDRESS = "fuzzy_address"
INVALID_PHONE = "invalid_phone"
PAYMENT_CALLBACK_FAILED = "payment_callback_failed"
OUT_OF_STOCK = "out_of_stock"
SUSPECTED_FRAUD = "suspected_fraud"
DISPUTE_WORDS = "dispute_words"
CONTRACT_TAGS = (FUZZY_ADDRESS, INVALID_PHONE, PAYMENT_CALLBACK_FAILED, OUT_OF_STOCK, SUSPECTED_FRAUD, DISPUTE_WORDS)


class Severity(StrEnum):
    FLAG = "flag"  # tagged and queued for its team; the order goes on
    HOLD = "hold"  # tagged, queued and ON_HOLD until resolved


class BuyerFacts(BaseModel):
    """What the database knows about the buyer behind an order, for the fraud heuristics.
    Counts exclude the order being screened; the window is the rules' fraud window."""

    unpaid_by_buyer: int = Field(default=0, ge=0, description="unpaid orders of this buyer in the window")
    unpaid_by_device: int = Field(default=0, ge=0, description="unpaid orders from this device in the window")
    earlier_orders: int = Field(default=0, ge=0, description="orders of this buyer before this one, ever")


class ExceptionHit(BaseModel):
    tag: str
    severity: Severity
    team: str
    reason: str = Field(description="what kind of problem, never the personal data that showed it")


# --- OrderWorkflow's exception activities (one input model each) -------------------------


class ScreenOrderInput(BaseModel):
    """Run the rules on an order as received; hits are recorded as raised at `seq`/`at`."""

    order: Order
    seq: int
    at: datetime


class ScreenAddressInput(BaseModel):
    """Run the address rules again on an address an operator corrected."""

    order_id: str
    buyer: Buyer
    seq: int
    at: datetime
    updated_by: str


class RaiseExceptionInput(BaseModel):
    """A tag raised by an event rather than by screening: stock short, a failed payment callback."""

    order_id: str
    tag: str
    reason: str
    seq: int
    at: datetime


class ResolveExceptionsInput(BaseModel):
    order_id: str
    tags: list[str] | None = Field(default=None, description="None: every standing tag")
    resolved_by: str
    resolution: str
    at: datetime


class ScoreOrderInput(BaseModel):
    order_id: str
    seq: int
    at: datetime


class HealthReason(BaseModel):
    reason: str  # sync_delay | exception:<tag> | sla_breach | retry
    penalty: int
    detail: str = ""


class StandingTags(BaseModel):
    """The order's tags still open after a change, as the database holds them."""

    tags: list[ExceptionHit] = Field(default_factory=list)


class HealthScore(BaseModel):
    score: int = Field(ge=0, le=100)
    reasons: list[HealthReason] = Field(default_factory=list)
    in_review: bool = False
    standing: list[ExceptionHit] = Field(default_factory=list)


SlaKind = Literal["review", "shipping_promise"]
SlaStage = Literal["alert", "escalate", "breached"]


class SlaAlertInput(BaseModel):
    """An SLA stage passed: record the breach and tell the team (owner, or supervisor on escalation)."""

    order_id: str
    kind: SlaKind
    stage: SlaStage
    team: str
    due_at: datetime
    at: datetime
    key: str = Field(description="idempotency key derived from the order's history")
    detail: str = Field(default="", max_length=300)


def fingerprint(*parts: str) -> str:
    """A stable, one-way key for counting a buyer's or a device's orders without storing who they are."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:64]


def buyer_key(order: Order) -> str:
    """The platform's buyer id; else receiver name and phone (masked on some marketplaces, so together)."""
    return fingerprint("buyer", order.channel, order.buyer_id or f"{order.buyer.name}|{order.buyer.phone}")


def device_key(order: Order) -> str | None:
    return fingerprint("device", order.device_id) if order.device_id else None


def merge_key(channel: str, shop: str, buyer: str, receiver: Buyer) -> str:
    """Orders that may share a parcel: same channel, shop, buyer and receiver (name, phone, address)."""
    r = receiver
    return fingerprint("parcel", channel, shop, buyer, r.name, r.phone, r.province, r.city, r.district,
                       " ".join(r.address.split()))
