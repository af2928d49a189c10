"""Refunds: claim against the ledger, move the money back the way it came, record that it moved.

The one activity every refund path runs (after-sales tickets, order cancels). Three steps, each
idempotent on the refund request number, so a retry, a crash or a replay never pays twice:
1. claim: under the order's lock, the amount against what is left of what the order received
   (models/ledger.py); more than that is refused for good, nothing is claimed;
2. move: own-store orders through the payment gateway (the buyer paid through it, keyed by
   `out_request_no`); marketplace orders through the platform's own refund API (the buyer paid the
   platform, which pays them back: never the gateway as well);
3. settle: the claim is marked done with the amount that moved.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from temporalio import activity

from activities.channel import ChannelActivities
from activities.payment import PaymentActivities
from models.channel import PushRefundInput
from models.db import session_scope
from models.ledger import (
    OrderIdentity,
    OrderLike,
    RefundExceedsReceived,
    RefundOrderInput,
    RefundPart,
    balance,
    claim_refund,
    lock_order,
    record_receipt,
    refund_parts,
    settle_refund,
)
from models.order import as_channel
from models.order_workflow import RefundPaymentInput, RefundResult
from models.payment_errors import PaymentError
from models.tables import MoneyEntry

log = structlog.get_logger()


class RefundActivities:
    def __init__(self, db_url: str, payments: PaymentActivities, channels: ChannelActivities) -> None:
        self.db_url, self.payments, self.channels = db_url, payments, channels

    @activity.defn(name="refund_order")
    async def refund_order(self, request: RefundOrderInput) -> RefundResult:
        claim, trade_no = await self._claim(request)
        if claim.status == "done":  # an earlier attempt moved it and recorded so
            return RefundResult(out_request_no=request.request_no, amount=claim.amount, status="REFUND_SUCCESS")
        if claim.amount == 0:
            await self._settle(request, moved=False)
            return RefundResult(out_request_no=request.request_no, amount=0, status="NOTHING_TO_REFUND")
        if request.settled_by_platform:
            result = RefundResult(out_request_no=request.request_no, amount=claim.amount, status="SETTLED_BY_PLATFORM")
        elif claim.route == "gateway":
            # One gateway refund per trade the claim is split over (a presale order has two).
            parts = refund_parts(claim) or [RefundPart(trade_no=trade_no, amount=claim.amount,
                                                       out_request_no=request.request_no)]
            moved = 0
            for part in parts:
                moved += (await self.payments.refund_payment(RefundPaymentInput(
                    order_id=request.order_id, trade_no=part.trade_no, amount=part.amount,
                    out_request_no=part.out_request_no, reason=request.reason))).amount
            result = RefundResult(out_request_no=request.request_no, amount=moved, status="REFUND_SUCCESS")
        else:
            await self.channels.push_refund_to_channel(PushRefundInput(
                channel=as_channel(claim.channel), shop=claim.shop, external_id=claim.external_id,
                refund_id=request.request_no, platform_request_id=request.platform_request_id, amount=claim.amount,
                status="REFUNDED", reason=request.reason[:200]))
            result = RefundResult(out_request_no=request.request_no, amount=claim.amount, status="REFUND_SUCCESS")
        await self._settle(request, moved=True, amount=result.amount)
        log.info("refund moved", order_id=request.order_id, request_no=request.request_no, route=claim.route,
                 amount=result.amount, source=request.source)
        return result

    async def _claim(self, request: RefundOrderInput) -> tuple[MoneyEntry, str]:
        now = datetime.now(UTC)
        async with session_scope(self.db_url) as session:
            order: OrderLike | None = await lock_order(session, request.order_id)
            if order is None:
                # Never registered (its receipt failed for good), so no ticket can claim against it:
                # the ledger keeps its entries under the order's identity all the same.
                order = OrderIdentity(order_id=request.order_id, channel=request.channel, shop=request.shop,
                                      external_id=request.external_id)
            receipt = request.receipt
            if receipt is not None and receipt.amount > 0 and not (await balance(session, order.order_id)).seen:
                # The workflow knows money came in that the ledger has not heard of (a payment that
                # raced the cancel): record it first. Anything recorded already (the payment, a
                # deposit) stands as it is, so nothing is received twice.
                await record_receipt(session, order, key=receipt.key, reference=receipt.reference,
                                     amount=receipt.amount, source=receipt.source, at=now)
            try:
                claim = await claim_refund(session, order, request_no=request.request_no, amount=request.amount,
                                           source=request.source, ticket_id=request.ticket_id, at=now)
            except RefundExceedsReceived as err:
                raise PaymentError.REFUND_EXCEEDS_RECEIVED.failure(str(err), {
                    "asked": err.asked, "refundable": err.balance.refundable}) from err
            session.expunge(claim)
            trade_no = order.trade_no or (receipt.reference if receipt else None) or order.external_id
            return claim, trade_no

    async def _settle(self, request: RefundOrderInput, *, moved: bool, amount: int | None = None) -> None:
        async with session_scope(self.db_url) as session:
            await settle_refund(session, request.order_id, request.request_no, moved=moved, amount=amount,
                                at=datetime.now(UTC))
