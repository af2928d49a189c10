"""Sales channels and their shops: the platform's answers, and the hub's shop registry.

The platform failures are raised by the channel activities and acted on by workflows (an expired
token pauses the shop's sync); their status is what a caller would get if one ever reached it."""

from __future__ import annotations

from models.errors import ErrorCode


class ChannelError(ErrorCode):
    SHOP_NOT_FOUND = "shop_not_found", 404
    SHOP_EXISTS = "shop_exists", 409
    NO_WEBHOOKS = "no_webhooks", 404  # the channel delivers orders by pull
    SHOP_AUTH_EXPIRED = "shop_auth_expired", 409  # non-retryable: the shop must be re-authorised
    SHOP_NOT_REGISTERED = "shop_not_registered", 422  # non-retryable
    PLATFORM_RATE_LIMITED = "platform_rate_limited", 429  # retryable
    PLATFORM_UNAVAILABLE = "platform_unavailable", 503  # retryable
    # a platform after-sales request for an order the sync handed off moments ago and not recorded yet: retryable
    ORDER_NOT_RECORDED = "order_not_recorded_yet", 409


# Failures that pause a shop's sync until an admin acts (workflows.channel_sync).
PAUSES_SYNC = (ChannelError.SHOP_AUTH_EXPIRED.value, ChannelError.SHOP_NOT_REGISTERED.value)
