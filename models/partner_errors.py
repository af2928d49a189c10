"""Any outside party over HTTP (channels, carriers, the payment gateway, the notify robot)."""

from __future__ import annotations

from models.errors import ErrorCode


class PartnerError(ErrorCode):
    PARTNER_UNAVAILABLE = "partner_unavailable", 503  # retryable: unreachable, 408/425/429 or 5xx
