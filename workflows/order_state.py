"""OrderWorkflow's state in one object, and the one way a step learns the order is being cancelled."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.inventory import ReservationResult
    from models.order import SHIPPED_OR_LATER, OrderStatus
    from models.order_workflow import CancelOrder, ConfirmPayment, OrderSnapshot, OrderWorkflowInput, PresaleState
    from models.shipping import Shipment, ShipmentStatus


class OrderCancelled(Exception):
    """Raised by any step that finds the order cancelled (or past a deadline that cancels it); caught
    once, in `OrderWorkflow.run`, which compensates. `reason` is used when nobody asked for the cancel."""

    def __init__(self, reason: str = "cancelled") -> None:
        super().__init__(reason)
        self.reason = reason


class OrderState:
    """What the order is and how far it got; every helper reads and changes this one object."""

    def __init__(self, input: OrderWorkflowInput) -> None:
        self.order = input.order
        self.policy = input.policy
        self.order_id = input.order.order_id
        self.status = OrderStatus.RECEIVED
        self.hold_reason: str | None = None
        self.seq = 0  # timeline entries recorded so far (0 is the receipt)
        self.paid = input.order.paid
        self.trade_no = input.order.trade_no
        self.paid_at: datetime | None = workflow.info().start_time if input.order.paid else None
        self.confirmed_by: str | None = None  # who confirmed the payment, and who scanned the parcel last
        self.scanned_by: str | None = None
        # Money in that did not pay the order: a callback whose amount did not match, or a presale deposit.
        self.payment_callback: ConfirmPayment | None = None
        self.reservation: ReservationResult | None = None
        self.stock_decided = False
        self.creation_answered = False
        self.restocks = 0
        self.shipments: list[Shipment] = []
        self.scanned: set[str] = set()  # shipment ids scanned but not yet processed
        self.delivered: set[str] = set()  # waybill numbers signed for
        self.channel_modified_at: datetime | None = None  # newest platform change seen
        self.cancel_request: CancelOrder | None = None
        self.cancel_reason: str | None = None
        self.cancelled_at_seq: int | None = None  # set when compensation starts
        self.refund_no: str | None = None
        self.refund_ticket: str | None = None  # the after-sales workflow that stopped this order
        self.exception_tags: list[str] = []
        self.health_score: int | None = None
        self.presale_view: Callable[[], PresaleState | None] = lambda: None  # set by order_presale

    def stop_if_cancelled(self, reason: str = "cancelled") -> None:
        if self.cancel_request is not None:
            raise OrderCancelled(reason)

    def shipped_any(self) -> bool:
        return bool(self.scanned) or any(s.status == ShipmentStatus.SHIPPED for s in self.shipments)

    def goods_left(self) -> bool:
        return self.status in SHIPPED_OR_LATER or self.shipped_any()

    def all_delivered(self) -> bool:
        return all(s.waybill_no in self.delivered for s in self.shipments)

    def warehouses(self) -> str:
        return ",".join(sorted({s.warehouse for s in self.shipments}))

    def snapshot(self) -> OrderSnapshot:
        return OrderSnapshot(
            order_id=self.order_id, status=self.status, hold_reason=self.hold_reason, paid=self.paid,
            reservation=self.reservation, shipments=self.shipments, cancel_reason=self.cancel_reason,
            refund_no=self.refund_no, exception_tags=self.exception_tags, health_score=self.health_score,
            presale=self.presale_view(),
        )
