"""The payment gateway's refunds. A gateway refusal carries the gateway's own sub_code as its type
when it sends one; REFUND_REFUSED is for a refusal without one."""

from __future__ import annotations

from models.errors import ErrorCode


class PaymentError(ErrorCode):
    REFUND_PENDING = "refund_pending", 409  # retryable: still processing at the gateway
    REFUND_REFUSED = "refund_refused", 502  # non-retryable
    # non-retryable: the ledger has less left of what the order received than the refund asks
    REFUND_EXCEEDS_RECEIVED = "refund_exceeds_received", 409
