"""Tracking schedule and signed callback delivery for carrier waybills.

Events are a function of the subscription time, so GET /carrier/tracking can
answer from the clock even when callbacks fail; callbacks are pushed by one
background task per waybill, in order, retried with backoff.

The reference's event kinds: collected, in transit, out for delivery, signed, and exception. An
EXCEPTION happens when a test asks for it (`TrackingService.exception`): it is the waybill's event at
that moment, and the parcel is held there (no later event follows).
"""

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog

from sandbox.config import SandboxSettings
from sandbox.records import RecordStore

log = structlog.get_logger(__name__)

TRACKING_STATUSES = ("COLLECTED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "SIGNED")
EXCEPTION = "EXCEPTION"
SIGNATURE_HEADER = "X-Carrier-Signature"


@dataclass(frozen=True)
class Waybill:
    waybill_no: str
    carrier: str
    request_id: str
    # Site names only; no receiver details are kept here.
    origin_site: str
    destination_site: str
    courier: str


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_offsets(delivery_delay_s: float) -> list[tuple[str, float]]:
    """COLLECTED at 0, IN_TRANSIT at delay/3, OUT_FOR_DELIVERY at 2*delay/3, SIGNED at delay."""
    last = len(TRACKING_STATUSES) - 1
    return [(status, delivery_delay_s * i / last) for i, status in enumerate(TRACKING_STATUSES)]


@dataclass
class Subscription:
    waybill: Waybill
    callback_url: str
    delivery_delay_s: float
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_mono: float = field(default_factory=time.monotonic)
    exception: tuple[float, str] | None = None  # (offset, reason): the parcel is held from then on
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # wakes the push task

    def event(self, status: str, offset_s: float) -> dict[str, Any]:
        waybill = self.waybill
        at_origin = status in ("COLLECTED", "IN_TRANSIT") or (status == EXCEPTION and offset_s < self.arrival_s)
        return {
            "event_id": f"{waybill.waybill_no}-{status}",
            "waybill_no": waybill.waybill_no,
            "carrier": waybill.carrier,
            "status": status,
            "time": (self.started_at + timedelta(seconds=offset_s)).isoformat(timespec="milliseconds"),
            "site": waybill.origin_site if at_origin else waybill.destination_site,
            "operator": f"{waybill.carrier}-HUB" if status == "IN_TRANSIT" else waybill.courier,
        }

    @property
    def arrival_s(self) -> float:
        """When the parcel reaches the destination site (OUT_FOR_DELIVERY)."""
        return dict(event_offsets(self.delivery_delay_s))["OUT_FOR_DELIVERY"]

    def schedule(self) -> list[tuple[float, dict[str, Any]]]:
        """(due monotonic time, event) for every event of this waybill: the regular ones, or those before an
        exception and the exception."""
        offsets = event_offsets(self.delivery_delay_s)
        if self.exception is not None:
            at, reason = self.exception
            offsets = [(status, offset) for status, offset in offsets if offset < at]
            held = [(self.started_mono + at, {**self.event(EXCEPTION, at), "reason": reason})]
        else:
            held = []
        return [(self.started_mono + offset, self.event(status, offset)) for status, offset in offsets] + held

    def hold(self, reason: str) -> dict[str, Any]:
        """An EXCEPTION now; ValueError when the parcel is already signed for or already held."""
        at = time.monotonic() - self.started_mono
        if self.exception is not None:
            raise ValueError("the parcel is already held by an exception")
        if at >= self.delivery_delay_s:
            raise ValueError("the parcel is already signed for")
        self.exception = (at, reason)
        self.changed.set()
        return self.schedule()[-1][1]

    def events_by(self, now_mono: float) -> list[dict[str, Any]]:
        return [event for due, event in self.schedule() if due <= now_mono]


class TrackingService:
    def __init__(self, settings: SandboxSettings, records: RecordStore) -> None:
        self._settings = settings
        self._records = records
        self.subscriptions: dict[str, Subscription] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._client: httpx.AsyncClient | None = None

    def subscribe(self, waybill: Waybill, callback_url: str) -> Subscription:
        """Start the schedule; a repeated subscription keeps the first one."""
        existing = self.subscriptions.get(waybill.waybill_no)
        if existing is not None:
            return existing
        subscription = Subscription(waybill, callback_url, self._settings.delivery_delay_s)
        self.subscriptions[waybill.waybill_no] = subscription
        self._tasks[waybill.waybill_no] = asyncio.create_task(
            self._push_events(subscription), name=f"tracking-{waybill.waybill_no}"
        )
        return subscription

    def events(self, waybill_no: str) -> list[dict[str, Any]]:
        subscription = self.subscriptions.get(waybill_no)
        return subscription.events_by(time.monotonic()) if subscription else []

    def exception(self, waybill_no: str, reason: str) -> dict[str, Any]:
        """Hold a subscribed parcel with an EXCEPTION event now; KeyError if not subscribed, ValueError if it
        is already signed for or held."""
        return self.subscriptions[waybill_no].hold(reason)

    async def reset(self) -> None:
        await self._cancel_tasks()
        self.subscriptions.clear()

    async def close(self) -> None:
        await self._cancel_tasks()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _http(self) -> httpx.AsyncClient:
        # Created lazily so an app used without its lifespan (ASGI tests) still works.
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._settings.callback_timeout_s)
        return self._client

    async def _push_events(self, subscription: Subscription) -> None:
        waybill_no = subscription.waybill.waybill_no
        sent = 0
        try:
            # The schedule is read again after every wait: an exception replaces what was still to come
            # (events already due keep their places, so `sent` stays an index into it).
            while sent < len(schedule := subscription.schedule()):
                due, event = schedule[sent]
                if due > time.monotonic():
                    subscription.changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(subscription.changed.wait(), due - time.monotonic())
                    continue
                await self._deliver(subscription.callback_url, event)
                sent += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("tracking.push_failed", waybill_no=waybill_no)
        finally:
            self._tasks.pop(waybill_no, None)

    async def _deliver(self, callback_url: str, event: dict[str, Any]) -> None:
        """POST one event until a 2xx answer or the attempts run out."""
        settings = self._settings
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, settings.carrier_callback_secret),
        }
        # For callbacks, `received` counts delivery attempts.
        record = self._records.add(
            "tracking_callback",
            event["event_id"],
            body=event,
            result={"delivered": False, "attempts": 0, "status_code": None, "error": None},
            received=0,
        )

        for attempt in range(1, settings.callback_max_attempts + 1):
            record.received += 1
            record.result["attempts"] = attempt
            status_code: int | None = None
            error: str | None = None
            try:
                response = await self._http().post(callback_url, content=body, headers=headers)
                status_code = response.status_code
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            record.result.update(status_code=status_code, error=error)
            if status_code is not None and 200 <= status_code < 300:
                record.result["delivered"] = True
                log.info("tracking.callback_delivered", event_id=event["event_id"], attempt=attempt)
                return
            log.warning(
                "tracking.callback_failed",
                event_id=event["event_id"],
                attempt=attempt,
                status_code=status_code,
                error=error,
            )
            if attempt < settings.callback_max_attempts:
                backoff = settings.callback_backoff_s * 2 ** (attempt - 1)
                await asyncio.sleep(min(backoff, settings.callback_backoff_max_s))
        log.error(
            "tracking.callback_abandoned",
            event_id=event["event_id"],
            attempts=settings.callback_max_attempts,
        )

