"""SQLModel tables. The order tables are the read model of each order workflow's state;
stock and reservations are the source of truth for inventory.

Every schema change is an Alembic migration under models/migrations/versions/.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Warehouse(SQLModel, table=True):
    __tablename__ = "warehouses"

    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=100)
    region: str = Field(max_length=32, description="east, south, north, ... (models.regions)")
    province: str = Field(max_length=32)
    city: str = Field(max_length=32)
    address: str = Field(default="", max_length=256)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class Sku(SQLModel, table=True):
    __tablename__ = "skus"

    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class StockLevel(SQLModel, table=True):
    __tablename__ = "stock_levels"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="ck_stock_on_hand"),
        CheckConstraint("reserved >= 0", name="ck_stock_reserved"),
        CheckConstraint("safety_stock >= 0", name="ck_stock_safety"),
        CheckConstraint("reserved <= on_hand", name="ck_stock_reserved_le_on_hand"),
        CheckConstraint("awaiting_inspection >= 0", name="ck_stock_awaiting_inspection"),
        CheckConstraint("damaged >= 0", name="ck_stock_damaged"),
    )

    sku: str = Field(primary_key=True, foreign_key="skus.code", max_length=64)
    warehouse: str = Field(primary_key=True, foreign_key="warehouses.code", max_length=32)
    on_hand: int = 0
    reserved: int = 0
    safety_stock: int = 0
    # Returns on their way back or not yet inspected, and units that failed inspection: neither
    # is in on_hand, so neither is ever sold.
    awaiting_inspection: int = 0
    damaged: int = 0
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class Reservation(SQLModel, table=True):
    __tablename__ = "reservations"
    __table_args__ = (
        UniqueConstraint("order_id", "sku", "warehouse", name="uq_reservation_order_sku_wh"),
        CheckConstraint("quantity > 0", name="ck_reservation_quantity"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True, max_length=100)
    sku: str = Field(max_length=64)
    warehouse: str = Field(max_length=32)
    quantity: int
    status: str = Field(default="RESERVED", max_length=16, description="RESERVED, RELEASED, COMMITTED")
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class OrderRecord(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("channel", "shop", "external_id", name="uq_order_channel_shop_external_id"),
        Index("ix_orders_status_channel", "status", "channel"),
    )

    order_id: str = Field(primary_key=True, max_length=100)
    workflow_id: str = Field(max_length=120)
    channel: str = Field(max_length=16)
    shop: str = Field(max_length=64)
    external_id: str = Field(max_length=64)
    status: str = Field(max_length=24)
    hold_reason: str | None = Field(default=None, max_length=500)
    cancel_reason: str | None = Field(default=None, max_length=200)
    paid: bool = False
    trade_no: str | None = Field(default=None, max_length=64)
    priority: str = Field(default="normal", max_length=16)
    priority_tags: list[str] = Field(default_factory=list, sa_type=JSON)
    ship_not_before: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    goods_amount: int = 0
    shipping_fee: int = 0
    discount: int = 0
    total_amount: int = 0
    warehouse: str | None = Field(default=None, max_length=100)
    buyer_name: str = Field(max_length=64)
    buyer_phone: str = Field(max_length=32)
    buyer_province: str = Field(max_length=32)
    buyer_city: str = Field(max_length=32)
    buyer_district: str = Field(default="", max_length=32)
    buyer_address: str = Field(max_length=256)
    buyer_zip: str | None = Field(default=None, max_length=16)
    buyer_message: str | None = Field(default=None, max_length=500)
    placed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # Fraud heuristics count by these: sha256 of the platform buyer id (or phone) and of the device.
    buyer_key: str | None = Field(default=None, index=True, max_length=64)
    device_key: str | None = Field(default=None, index=True, max_length=64)
    # Same channel, shop, buyer and address: orders that may share a parcel (hash, no personal data).
    merge_key: str | None = Field(default=None, index=True, max_length=64)
    exception_tags: list[str] = Field(default_factory=list, sa_type=JSON)
    health_score: int = 100
    health_reasons: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class OrderException(SQLModel, table=True):
    """One tag on one order, from raised to resolved: the team queues are the open rows."""

    __tablename__ = "order_exceptions"
    __table_args__ = (
        UniqueConstraint("order_id", "tag", "raised_seq", name="uq_order_exception"),
        Index("ix_order_exceptions_open", "resolved_at", "team"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="orders.order_id", index=True, max_length=100)
    tag: str = Field(max_length=40)
    severity: str = Field(max_length=8)
    team: str = Field(max_length=40)
    reason: str = Field(max_length=300)
    raised_seq: int = Field(description="the order's timeline seq when raised: a retried write is the same row")
    raised_at: datetime = Field(sa_type=DateTime(timezone=True))
    resolved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    resolved_by: str | None = Field(default=None, max_length=64)
    resolution: str | None = Field(default=None, max_length=200)


class ParcelMember(SQLModel, table=True):
    """An order's merge claim: it joined a parcel's workflow or ships alone. Once claimed, nobody
    waits for it any more."""

    __tablename__ = "parcel_members"

    order_id: str = Field(primary_key=True, max_length=100)
    role: str = Field(max_length=8, description="joined | alone")
    parcel_workflow_id: str = Field(index=True, max_length=100)
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    joined_at: datetime = Field(sa_type=DateTime(timezone=True))


class SlaBreach(SQLModel, table=True):
    """Every SLA alert and escalation, for the weekly review."""

    __tablename__ = "sla_breaches"

    key: str = Field(primary_key=True, max_length=200)
    order_id: str = Field(index=True, max_length=100)
    kind: str = Field(max_length=24, description="review | shipping_promise")
    stage: str = Field(max_length=16, description="alert | escalate | breached")
    team: str = Field(max_length=40)
    audience: str = Field(max_length=64)
    due_at: datetime = Field(sa_type=DateTime(timezone=True))
    breached_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    detail: str = Field(default="", max_length=300)


class OrderLineRecord(SQLModel, table=True):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "line_no", name="uq_order_line"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="orders.order_id", index=True, max_length=100)
    line_no: int
    sku: str = Field(max_length=64)
    quantity: int
    unit_price: int
    # The line's share of what was paid for the goods (the channel's, else apportioned at registration);
    # None on lines registered before it was kept: a refund apportions then.
    paid_amount: int | None = None


class ShipmentRecord(SQLModel, table=True):
    __tablename__ = "shipments"

    shipment_id: str = Field(primary_key=True, max_length=140)
    order_id: str = Field(foreign_key="orders.order_id", index=True, max_length=100)
    warehouse: str = Field(max_length=32)
    carrier: str = Field(max_length=16)
    waybill_no: str | None = Field(default=None, index=True, max_length=64)
    status: str = Field(max_length=16)
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    pushed_to_channel: bool = False
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class OrderEvent(SQLModel, table=True):
    """Append-only timeline. (order_id, seq) makes the workflow's write idempotent."""

    __tablename__ = "order_events"
    __table_args__ = (UniqueConstraint("order_id", "seq", name="uq_order_event_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="orders.order_id", index=True, max_length=100)
    seq: int
    status: str = Field(max_length=24)
    event: str = Field(max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    at: datetime = Field(sa_type=DateTime(timezone=True))


class QuarantinedPayload(SQLModel, table=True):
    """Input that could not be processed, kept raw with the reason: nothing is dropped."""

    __tablename__ = "quarantine"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=100, description="e.g. api:POST /v1/orders")
    reason: str = Field(max_length=2000)
    payload: str
    status: str = Field(default="QUARANTINED", max_length=16, description="QUARANTINED, RESOLVED")
    resolution: str | None = Field(default=None, max_length=200, description="what the retry produced")
    retries: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class Shop(SQLModel, table=True):
    """A seller's shop on one channel, with the credentials the hub calls it with."""

    __tablename__ = "shops"

    channel: str = Field(primary_key=True, max_length=16)
    shop: str = Field(primary_key=True, max_length=64)
    app_key: str = Field(max_length=128)
    app_secret: str = Field(max_length=256)
    access_token: str = Field(max_length=512)
    sync_interval_s: int
    status: str = Field(default="ACTIVE", max_length=16, description="ACTIVE, PAUSED")
    status_reason: str | None = Field(default=None, max_length=500)
    # Written by the shop's ChannelSync workflow after each pulled window (its checkpoint).
    sync_cursor: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    last_synced_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    last_sync_error: str | None = Field(default=None, max_length=500)
    orders_pulled: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class WebhookEvent(SQLModel, table=True):
    """Every webhook delivery's event id, so a platform's at-least-once delivery counts once."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("channel", "shop", "event_id", name="uq_webhook_event"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    shop: str = Field(max_length=64)
    event_id: str = Field(max_length=128)
    topic: str = Field(default="", max_length=64)
    order_id: str | None = Field(default=None, max_length=100)
    status: str = Field(default="RECEIVED", max_length=16, description="RECEIVED, HANDED_OFF, QUARANTINED")
    deliveries: int = 1
    received_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class AfterSalesTicketRecord(SQLModel, table=True):
    """Read model of each after-sales workflow. The API inserts the row (claiming its amount against
    what the order paid, under the order row's lock); the workflow is the only writer after that."""

    __tablename__ = "after_sales_tickets"
    __table_args__ = (
        Index("ix_after_sales_status_type", "status", "type"),
        CheckConstraint("claim_amount >= 0", name="ck_after_sales_claim"),
        # one ticket per request a buyer opened at a platform (NULL for the hub's own tickets)
        Index("uq_after_sales_platform_request", "channel", "shop", "platform_request_id", unique=True),
    )

    ticket_id: str = Field(primary_key=True, max_length=140)
    workflow_id: str = Field(max_length=160)
    order_id: str = Field(foreign_key="orders.order_id", index=True, max_length=100)
    channel: str = Field(max_length=16)
    shop: str = Field(max_length=64)
    type: str = Field(max_length=24)
    reason: str = Field(max_length=64)
    description: str | None = Field(default=None, max_length=500)
    status: str = Field(max_length=24)
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    requested_amount: int = 0
    claim_amount: int = 0  # fen held against the order's paid amount: asked, then refunded, 0 when it ends unpaid
    goods_intact: bool | None = None
    before_shipping: bool = False
    tier: str | None = Field(default=None, max_length=32)
    auto_rule: str | None = Field(default=None, max_length=32)
    approvals: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    refund: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    return_waybill: str | None = Field(default=None, index=True, max_length=64)
    accepted_quantity: int | None = None
    hold_reason: str | None = Field(default=None, max_length=500)
    replacement_order_id: str | None = Field(default=None, max_length=100)
    first_response_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    # fen of the order's shipping fee this ticket refunds (the rules file's after_sales.shipping_refund_reasons):
    # at most one live ticket of an order carries it
    shipping_refund: int = 0
    # The buyer's own request at the platform, when the ticket came from one (pulled by the channel sync):
    # its id there (the ticket answers it by this) and its status as last seen or answered.
    platform_request_id: str | None = Field(default=None, max_length=64)
    platform_status: str | None = Field(default=None, max_length=16)


class AfterSalesEvent(SQLModel, table=True):
    """Append-only ticket timeline; (ticket_id, seq) makes the workflow's write idempotent."""

    __tablename__ = "after_sales_events"
    __table_args__ = (UniqueConstraint("ticket_id", "seq", name="uq_after_sales_event_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: str = Field(foreign_key="after_sales_tickets.ticket_id", index=True, max_length=140)
    seq: int
    status: str = Field(max_length=24)
    event: str = Field(max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    at: datetime = Field(sa_type=DateTime(timezone=True))


class ReturnedUnits(SQLModel, table=True):
    """Units of one sku a ticket brings back to one warehouse. The status flip is conditional, so
    counting them in (EXPECTED), inspecting them (INSPECTED) or letting them go (CANCELLED) happens
    once however often the step is retried."""

    __tablename__ = "returned_units"
    __table_args__ = (
        UniqueConstraint("ticket_id", "sku", "warehouse", name="uq_returned_units"),
        CheckConstraint("quantity > 0", name="ck_returned_quantity"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: str = Field(index=True, max_length=140)
    sku: str = Field(max_length=64)
    warehouse: str = Field(max_length=32)
    quantity: int
    accepted: int = 0
    damaged: int = 0
    status: str = Field(default="EXPECTED", max_length=16, description="EXPECTED, INSPECTED, CANCELLED")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class MoneyEntry(SQLModel, table=True):
    """The money ledger: one row per movement of an order's money (models/ledger.py writes it).
    A refund is claimed (status `claimed`) in the same transaction that checks what is left of
    what was received, under the order row's lock; it ends `done` (moved) or `released` (not)."""

    __tablename__ = "money_entries"
    __table_args__ = (
        Index("ix_money_entries_order", "order_id", "direction"),
        Index("ix_money_entries_day", "channel", "created_at"),
        CheckConstraint("amount >= 0", name="ck_money_entries_amount"),
        CheckConstraint("direction IN ('in', 'out')", name="ck_money_entries_direction"),
    )

    entry_id: str = Field(primary_key=True, max_length=180)  # "{direction}:{order_id}:{reference}"
    order_id: str = Field(max_length=100)
    channel: str = Field(max_length=16)
    shop: str = Field(max_length=64)
    external_id: str = Field(max_length=64)
    direction: str = Field(max_length=3)  # in: received from the buyer; out: refunded to the buyer
    route: str = Field(max_length=8)  # gateway (own store) | channel (the marketplace's own refund API)
    reference: str = Field(max_length=64)  # trade number (in) or refund request number (out)
    amount: int
    status: str = Field(max_length=10)  # claimed | done | released | held
    source: str = Field(max_length=16)  # payment | late_payment | deposit | balance | cancel | ticket
    ticket_id: str | None = Field(default=None, max_length=140)
    detail: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class ReconciliationReport(SQLModel, table=True):
    """One day's reconciliation (models/reconciliation.py): re-running the day replaces it and its differences."""

    __tablename__ = "reconciliation_reports"

    day: str = Field(primary_key=True, max_length=10)  # YYYY-MM-DD in the reconciliation time zone
    status: str = Field(max_length=16)  # clean | differences
    time_zone: str = Field(max_length=64)
    workflow_id: str = Field(max_length=120)
    summary: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)  # channel -> orders, paid_fen, ...
    counts: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)  # difference kind -> count
    errors: list[str] = Field(default_factory=list, sa_type=JSON)  # bills that could not be fetched
    differences: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class ReconciliationDifference(SQLModel, table=True):
    __tablename__ = "reconciliation_differences"

    id: int | None = Field(default=None, primary_key=True)
    day: str = Field(foreign_key="reconciliation_reports.day", index=True, max_length=10)
    kind: str = Field(max_length=32)
    channel: str = Field(max_length=16)
    shop: str = Field(max_length=64)
    order_id: str | None = Field(default=None, max_length=100)
    external_id: str | None = Field(default=None, max_length=64)
    expected_fen: int | None = None
    actual_fen: int | None = None
    detail: str = Field(default="", max_length=500)


# Kept with the principals it stores (models/principals.py); imported here so every table is on the metadata
# Alembic and the migration tests compare against.
from models.principals import PrincipalRecord  # noqa: E402,F401
