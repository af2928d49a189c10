"""Error codes: one enum per domain, each member the snake_case code the API answers with
(problem+json `type` /problems/<code>, api/errors.py) and the HTTP status it answers with.

A workflow or an activity refuses with `SomeError.MEMBER.failure(message)`: an ApplicationError
whose `type` is the code, so the API turns a refusal into its answer by looking the type up
(`error_code`), with no name mangling. The values are wire contracts: never rename one.

    class OrderError(ErrorCode):
        ALREADY_SHIPPED = "already_shipped", 409

A code may sit in two domains (an order and a ticket both refuse an unknown waybill) only with
the same status, so the lookup's answer does not depend on which domain it finds first.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from typing import Any

from temporalio.exceptions import ApplicationError

# Every domain's module: the lookup imports them all, so it never depends on what happens to be
# imported already.
DOMAINS = (
    "models.api_errors",
    "models.order_errors",
    "models.after_sales_errors",
    "models.channel_errors",
    "models.partner_errors",
    "models.payment_errors",
    "models.notify_errors",
    "models.stock_errors",
    "models.reconciliation_errors",
)

_registered: list[type[ErrorCode]] = []


class ErrorCode(StrEnum):
    """Subclass once per domain; each member is `NAME = "snake_code", http_status`."""

    status: int

    def __new__(cls, value: str, status: int) -> ErrorCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        return member

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _registered.append(cls)

    def failure(self, message: str, *details: Any, non_retryable: bool = True) -> ApplicationError:
        """The ApplicationError to raise: its type is this code. Non-retryable unless said otherwise
        (a refusal does not change by asking again; a partner being down does)."""
        return ApplicationError(message, *details, type=self.value, non_retryable=non_retryable)


def error_code(type_: str | None) -> ErrorCode | None:
    """The registered code whose value is `type_` (an ApplicationError's type), or None."""
    if not type_:
        return None
    return codes().get(type_)


def codes() -> dict[str, ErrorCode]:
    """Every registered code by its value. Raises when one value has two statuses."""
    for module in DOMAINS:
        importlib.import_module(module)
    found: dict[str, ErrorCode] = {}
    for domain in _registered:
        for member in domain:
            seen = found.setdefault(member.value, member)
            if seen.status != member.status:
                raise TypeError(f"error code {member.value} is {seen.status} in {type(seen).__name__} "
                                f"but {member.status} in {domain.__name__}")
    return found
