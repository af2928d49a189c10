"""Payment gateway: refunds along the original route, exactly once per out_request_no."""

from __future__ import annotations

from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.http import PartnerHttp
from models.money import fen_to_yuan, yuan_to_fen
from models.order_workflow import RefundPaymentInput, RefundResult
from models.payment_errors import PaymentError

log = structlog.get_logger()
GATEWAY = "payment gateway"


class PaymentActivities:
    def __init__(self, gateway_http: PartnerHttp) -> None:
        self.http = gateway_http

    @activity.defn(name="refund_payment")
    async def refund_payment(self, request: RefundPaymentInput) -> RefundResult:
        """Ask for the refund, or on a retry first ask the gateway whether the earlier request
        landed (its answer may have been lost). The gateway moves money once per out_request_no
        anyway, so when the query itself is unavailable the request is simply sent again; a refund
        still processing fails retryably until it settles."""
        key = {"trade_no": request.trade_no, "out_request_no": request.out_request_no}
        body: dict[str, Any] = {}
        if activity.info().attempt > 1:
            try:
                body = await self.http.request("POST", "/gateway/refund/query", partner=GATEWAY, json=key)
            except ApplicationError as err:
                if err.non_retryable:
                    raise
                # The query is down: asking again with the same out_request_no is just as safe.
                log.info("refund query unavailable, asking again", out_request_no=request.out_request_no)
        if not body or body.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            body = await self.http.request("POST", "/gateway/refund", partner=GATEWAY, json={
                **key, "refund_amount": fen_to_yuan(request.amount), "refund_reason": request.reason,
            })
        if body.get("code") != "10000":
            message = f"refund refused: {body.get('sub_code')}: {body.get('sub_msg')}"
            if not body.get("sub_code"):
                raise PaymentError.REFUND_REFUSED.failure(message)
            # The gateway's own code as the type, as every partner refusal (activities.http).
            raise ApplicationError(message, type=str(body["sub_code"]), non_retryable=True)
        status = body.get("refund_status", "REFUND_SUCCESS")
        if status != "REFUND_SUCCESS":
            raise PaymentError.REFUND_PENDING.failure(f"refund {request.out_request_no} is {status}",
                                                      non_retryable=False)
        log.info("refund settled", order_id=request.order_id, out_request_no=request.out_request_no,
                 amount=request.amount)
        return RefundResult(out_request_no=request.out_request_no,
                            amount=yuan_to_fen(body.get("refund_amount", fen_to_yuan(request.amount))),
                            status=status)
