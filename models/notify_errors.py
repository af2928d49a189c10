"""The notify robot's answers (activities.notify)."""

from __future__ import annotations

from models.errors import ErrorCode


class NotifyError(ErrorCode):
    NOTIFY_RATE_LIMITED = "notify_rate_limited", 429  # retryable
    NOTIFY_REFUSED = "notify_refused", 502  # non-retryable: unknown or revoked robot, bad message
