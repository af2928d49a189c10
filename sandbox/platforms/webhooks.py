"""Webhook delivery for the pushing platforms (Shopify, own store): in the background, at least once.

Each order has its own queue, so its events go out in order unless the `<channel>.webhook` fault rule
says `out_of_order` (an event is held back until the order's next event has been delivered, or
`webhook_reorder_hold_s` passes). A delivery is retried with exponential backoff on a connection error
or a non-2xx answer, except 4xx other than 408/429, which is final; at most `webhook_max_attempts`.
An event marked duplicate is delivered a second time, same event id, after its first success.
Every event is a record of kind "webhook" (key: event id) with its attempts and outcome.
Shutdown and reset cancel pending deliveries, so neither hangs on a sleeping retry.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

from sandbox.config import SandboxSettings
from sandbox.faults import FaultInjector
from sandbox.records import RecordStore

log = structlog.get_logger(__name__)

FINAL_4XX_EXCEPT = (408, 429)


@dataclass
class WebhookEvent:
    channel: str
    shop: str
    external_id: str
    topic: str
    event_id: str
    url: str
    body: bytes
    headers: dict[str, str]
    duplicate: bool = False
    hold: bool = False  # out-of-order fault: let the order's next event overtake this one
    meta: dict[str, Any] = field(default_factory=dict)


class WebhookDispatcher:
    def __init__(self, settings: SandboxSettings, records: RecordStore, faults: FaultInjector) -> None:
        self._settings = settings
        self._records = records
        self._faults = faults
        self._queues: dict[tuple[str, str, str], asyncio.Queue[WebhookEvent]] = {}
        self._tasks: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._client: httpx.AsyncClient | None = None
        # A burst (a thousand orders at once) waits here, not in the HTTP pool: a pool with thousands
        # of waiters times them out and spends the sandbox's CPU on its queue.
        self._sending = asyncio.Semaphore(settings.webhook_concurrency)

    def send(self, event: WebhookEvent) -> None:
        rule = self._faults.rule_for(f"{event.channel}.webhook")
        if rule is not None:
            event.duplicate = event.duplicate or self._faults.draw(rule.duplicate_rate)
            event.hold = rule.out_of_order
        self._records.add("webhook", event.event_id,
                          body={"channel": event.channel, "shop": event.shop, "external_id": event.external_id,
                                "topic": event.topic, "url": event.url, "duplicate": event.duplicate},
                          result={"delivered": 0, "attempts": 0, "status_code": None, "error": None,
                                  "final": False}, received=0)
        key = (event.channel, event.shop, event.external_id)
        queue = self._queues.setdefault(key, asyncio.Queue())
        queue.put_nowait(event)
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._drain(key, queue), name=f"webhooks-{'-'.join(key)}")

    async def idle(self, timeout_s: float = 10.0) -> None:
        """Wait until nothing is queued or being delivered (for tests)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self._tasks and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)

    async def reset(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        self._queues.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        await self.reset()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # lazily, so an app used without its lifespan still works
            self._client = httpx.AsyncClient(timeout=self._settings.webhook_timeout_s, limits=httpx.Limits(
                max_connections=self._settings.webhook_concurrency))
        return self._client

    async def _drain(self, key: tuple[str, str, str], queue: asyncio.Queue[WebhookEvent]) -> None:
        try:
            while not queue.empty():
                event = queue.get_nowait()
                if event.hold:
                    try:
                        later = await asyncio.wait_for(queue.get(), self._settings.webhook_reorder_hold_s)
                    except TimeoutError:
                        later = None
                    if later is not None:
                        log.info("webhook.reordered", event_id=event.event_id, overtaken_by=later.event_id)
                        await self._deliver(later)
                await self._deliver(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook.drain_failed", channel=key[0], shop=key[1])
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]
                self._queues.pop(key, None)

    async def _deliver(self, event: WebhookEvent) -> None:
        copies = 2 if event.duplicate else 1
        for _ in range(copies):
            if not await self._deliver_once(event):
                return

    async def _deliver_once(self, event: WebhookEvent) -> bool:
        settings = self._settings
        record = self._records.find("webhook", event.event_id)
        assert record is not None
        for attempt in range(1, settings.webhook_max_attempts + 1):
            record.received += 1
            record.result["attempts"] += 1
            decision = self._faults.decide(f"{event.channel}.webhook")
            if decision.latency_s:
                await asyncio.sleep(decision.latency_s)
            status_code: int | None = None
            error: str | None = None
            if decision.failure is not None:
                error = "fault_injected"
            else:
                try:
                    async with self._sending:
                        response = await self._http().post(event.url, content=event.body, headers=event.headers)
                    status_code = response.status_code
                except httpx.HTTPError as exc:
                    error = type(exc).__name__
            record.result.update(status_code=status_code, error=error)
            if status_code is not None and 200 <= status_code < 300:
                record.result["delivered"] += 1
                log.info("webhook.delivered", channel=event.channel, shop=event.shop, event_id=event.event_id,
                         topic=event.topic, attempt=attempt)
                return True
            if status_code is not None and 400 <= status_code < 500 and status_code not in FINAL_4XX_EXCEPT:
                record.result["final"] = True
                log.warning("webhook.refused", channel=event.channel, shop=event.shop, event_id=event.event_id,
                            status_code=status_code)
                return False
            log.warning("webhook.failed", channel=event.channel, shop=event.shop, event_id=event.event_id,
                        attempt=attempt, status_code=status_code, error=error)
            if attempt < settings.webhook_max_attempts:
                backoff = settings.webhook_backoff_s * 2 ** (attempt - 1)
                await asyncio.sleep(min(backoff, settings.webhook_backoff_max_s))
        record.result["final"] = True
        log.error("webhook.abandoned", channel=event.channel, shop=event.shop, event_id=event.event_id,
                  attempts=settings.webhook_max_attempts)
        return False
