"""Per-endpoint latency and failure injection.

Business routes use `FaultInjectedRoute`; the route's `name` is the fault
endpoint name ("carrier.create_waybill", ...), so every endpoint gets the same
behaviour from this one wrapper. Marketplace router gateways serve several
endpoints on one route and call `run_with_faults` once they know the API method.

Marketplace endpoints are `<channel>.orders` (pull), `<channel>.shipback`,
`<channel>.stock` and `<channel>.refund` (after-sales refunds); the group robot
(sandbox/notify.py) is `robot.send`; webhook deliveries are `shopify.webhook` /
`own_store.webhook`, where `failure_rate` fails a delivery attempt (retried with
backoff), `latency_ms` delays it, `duplicate_rate` delivers an event twice (same
event id) and `out_of_order` holds an event back until the order's next event
has gone.
"""

import asyncio
import contextlib
import json
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, get_args

import structlog
from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from sandbox.errors import ServiceError, service_unavailable

log = structlog.get_logger(__name__)

FaultEndpoint = Literal[
    "carrier.create_waybill",
    "carrier.subscribe",
    "carrier.tracking",
    "gateway.pay",
    "gateway.refund",
    "gateway.refund_query",
    "own_store.shipback",
    "own_store.orders",
    "own_store.stock",
    "own_store.refund",
    "own_store.webhook",
    "taobao.orders",
    "taobao.shipback",
    "taobao.stock",
    "taobao.refund",
    "taobao.after_sales",
    "jd.orders",
    "jd.shipback",
    "jd.stock",
    "jd.refund",
    "jd.after_sales",
    "pinduoduo.orders",
    "pinduoduo.shipback",
    "pinduoduo.stock",
    "pinduoduo.refund",
    "pinduoduo.after_sales",
    "douyin.orders",
    "douyin.shipback",
    "douyin.stock",
    "douyin.refund",
    "douyin.after_sales",
    "shopify.orders",
    "shopify.shipback",
    "shopify.stock",
    "shopify.refund",
    "shopify.after_sales",
    "shopify.webhook",
    "robot.send",
]
ANY_ENDPOINT = "*"
FAULT_ENDPOINTS: frozenset[str] = frozenset(get_args(FaultEndpoint))
# A rule targets one endpoint, or "*" as the default for all of them.
FaultTarget = Literal[FaultEndpoint, Literal["*"]]
FailureMode = Literal["before", "after"]


class FaultRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: FaultTarget
    latency_ms: int = Field(default=0, ge=0, le=120_000)
    failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    # before: fail without any effect; after: apply the effect, then lose the answer.
    failure_mode: FailureMode = "before"
    # Webhook endpoints only: share of events delivered twice, and held-back (reordered) delivery.
    duplicate_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    out_of_order: bool = False


_rules_adapter = TypeAdapter(list[FaultRule])


def parse_fault_rules(text: str) -> list[FaultRule]:
    """Parse SANDBOX_FAULTS: a JSON list of rules (a single rule object is accepted too)."""
    if not text.strip():
        return []
    data = json.loads(text)
    if isinstance(data, dict):
        data = [data]
    return _rules_adapter.validate_python(data)


@dataclass(frozen=True)
class FaultDecision:
    latency_s: float = 0.0
    failure: FailureMode | None = None


class FaultInjector:
    def __init__(self, initial_rules: list[FaultRule], seed: int | None = None) -> None:
        self._initial = list(initial_rules)
        self._seed = seed
        self._rules: dict[str, FaultRule] = {}
        self._random = random.Random(seed)
        self.injected: dict[str, int] = {}  # failures injected per endpoint since the last reset
        self.reset()

    def reset(self) -> None:
        """Back to the rules and random sequence the sandbox started with."""
        self._rules = {rule.endpoint: rule for rule in self._initial}
        self._random = random.Random(self._seed)
        self.injected = {}

    def set(self, rule: FaultRule) -> None:
        self._rules[rule.endpoint] = rule

    def clear(self) -> None:
        self._rules.clear()

    def rules(self) -> list[FaultRule]:
        return list(self._rules.values())

    def rule_for(self, endpoint: str) -> FaultRule | None:
        return self._rules.get(endpoint) or self._rules.get(ANY_ENDPOINT)

    def draw(self, rate: float) -> bool:
        """True with probability `rate`; rates 0 and 1 draw nothing, so they don't shift a seeded sequence."""
        if rate >= 1.0:
            return True
        if rate <= 0.0:
            return False
        return self._random.random() < rate

    def decide(self, endpoint: str) -> FaultDecision:
        rule = self.rule_for(endpoint)
        if rule is None:
            return FaultDecision()
        # Draw only for real odds, so rate-0/rate-1 rules don't shift a seeded sequence.
        if rule.failure_rate >= 1.0:
            fails = True
        elif rule.failure_rate <= 0.0:
            fails = False
        else:
            fails = self._random.random() < rule.failure_rate
        if fails:
            self.injected[endpoint] = self.injected.get(endpoint, 0) + 1
        return FaultDecision(
            latency_s=rule.latency_ms / 1000,
            failure=rule.failure_mode if fails else None,
        )


class FaultInjectedRoute(APIRoute):
    """APIRoute that applies the fault rule named by the route's `name`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if self.name not in FAULT_ENDPOINTS:
            raise ValueError(f"route {self.path} needs a fault endpoint name, got {self.name!r}")
        handler = super().get_route_handler()
        endpoint = self.name

        async def handle_with_faults(request: Request) -> Response:
            return await run_with_faults(request, endpoint, lambda: handler(request))

        return handle_with_faults


async def run_with_faults(request: Request, endpoint: str,
                          handle: Callable[[], Coroutine[Any, Any, Response]]) -> Response:
    """Apply `endpoint`'s fault rule around `handle()`: latency, then fail before (no effect) or after
    (effect applied and recorded, the answer lost) with HTTP 503."""
    injector: FaultInjector = request.app.state.faults
    decision = injector.decide(endpoint)
    if decision.latency_s:
        await asyncio.sleep(decision.latency_s)
    if decision.failure == "before":
        log.info("sandbox.fault_injected", endpoint=endpoint, mode="before")
        return service_unavailable()
    if decision.failure != "after":
        return await handle()
    with contextlib.suppress(ServiceError, RequestValidationError, HTTPException):
        await handle()
    log.info("sandbox.fault_injected", endpoint=endpoint, mode="after")
    return service_unavailable()
