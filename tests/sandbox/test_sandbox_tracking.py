"""Tracking schedule, signed callbacks, retries and clean shutdown."""

import asyncio
import hashlib
import hmac
import json
from datetime import datetime

import httpx

from sandbox.app import create_app
from sandbox.config import SandboxSettings
from sandbox.tracking import TRACKING_STATUSES

SECRET = "test-carrier-secret"


def signature(body: bytes) -> str:
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


async def subscribe(sandbox, waybill_no, receiver):
    await subscribe_with(sandbox.client, waybill_no, receiver)


async def subscribe_with(client, waybill_no, receiver):
    response = await client.post(
        "/carrier/subscriptions", json={"waybill_no": waybill_no, "callback_url": receiver.url}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"waybill_no": waybill_no, "subscribed": True}


async def test_schedule_reaches_signed_by_query_and_signed_callbacks(make_sandbox, receiver):
    sandbox = await make_sandbox(delivery_delay_s=0.3, carrier_callback_secret=SECRET)
    waybill_no = await sandbox.create_waybill()
    subscribed_at = asyncio.get_running_loop().time()
    await subscribe(sandbox, waybill_no, receiver)

    early = (await sandbox.client.get(f"/carrier/tracking/{waybill_no}")).json()["events"]
    assert [e["status"] for e in early] == list(TRACKING_STATUSES[: len(early)])
    assert early[0]["status"] == "COLLECTED"

    callbacks = await receiver.wait_for_accepted(4)
    assert callbacks[-1].at - subscribed_at >= 0.3 - 0.01  # SIGNED is not pushed early
    payloads = []
    for callback in callbacks:
        assert callback.headers["x-carrier-signature"] == signature(callback.body)
        assert callback.headers["content-type"] == "application/json"
        payloads.append(json.loads(callback.body))
    assert [p["status"] for p in payloads] == list(TRACKING_STATUSES)
    assert [p["event_id"] for p in payloads] == [f"{waybill_no}-{s}" for s in TRACKING_STATUSES]
    assert {p["waybill_no"] for p in payloads} == {waybill_no}
    assert all(set(p) == {"event_id", "waybill_no", "carrier", "status", "time", "site", "operator"} for p in payloads)
    assert "张三" not in b"".join(c.body for c in callbacks).decode()
    times = [datetime.fromisoformat(p["time"]) for p in payloads]
    assert times == sorted(times) and all(t.utcoffset().total_seconds() == 0 for t in times)
    assert abs((times[-1] - times[0]).total_seconds() - 0.3) < 0.002

    tracking = (await sandbox.client.get(f"/carrier/tracking/{waybill_no}")).json()
    assert tracking["events"] == payloads

    # The sandbox records a delivery once the receiver's answer is back, just after the receiver
    # saw the request: give the last record a moment under load.
    for _ in range(100):
        delivered = await sandbox.records(kind="tracking_callback")
        if len(delivered) == 4 and all(r["result"]["delivered"] for r in delivered):
            break
        await asyncio.sleep(0.02)
    assert [r["key"] for r in delivered] == [p["event_id"] for p in payloads]
    assert all(r["received"] == 1 and r["result"]["delivered"] for r in delivered)


async def test_failed_callback_is_retried_in_order(make_sandbox, receiver):
    receiver.fail_first = 2
    sandbox = await make_sandbox(delivery_delay_s=0, callback_backoff_s=0.02, carrier_callback_secret=SECRET)
    waybill_no = await sandbox.create_waybill()
    await subscribe(sandbox, waybill_no, receiver)

    await receiver.wait_for_accepted(4)
    statuses = [(json.loads(c.body)["status"], c.status) for c in receiver.calls]
    assert statuses == [
        ("COLLECTED", 500),
        ("COLLECTED", 500),
        ("COLLECTED", 200),
        ("IN_TRANSIT", 200),
        ("OUT_FOR_DELIVERY", 200),
        ("SIGNED", 200),
    ]
    # Every retry carries the same bytes and signature.
    assert len({c.body for c in receiver.calls[:3]}) == 1
    assert all(c.headers["x-carrier-signature"] == signature(c.body) for c in receiver.calls)
    [collected] = await sandbox.records(kind="tracking_callback", key=f"{waybill_no}-COLLECTED")
    assert collected["received"] == 3
    assert collected["result"] == {"delivered": True, "attempts": 3, "status_code": 200, "error": None}


async def test_unreachable_receiver_does_not_block_tracking_query(make_sandbox):
    sandbox = await make_sandbox(delivery_delay_s=0, callback_backoff_s=0.01, callback_max_attempts=2)
    waybill_no = await sandbox.create_waybill()
    response = await sandbox.client.post(
        "/carrier/subscriptions", json={"waybill_no": waybill_no, "callback_url": "http://127.0.0.1:9/nobody"}
    )
    assert response.status_code == 200
    events = (await sandbox.client.get(f"/carrier/tracking/{waybill_no}")).json()["events"]
    assert [e["status"] for e in events] == list(TRACKING_STATUSES)


async def test_repeated_subscription_keeps_one_schedule(make_sandbox, receiver):
    sandbox = await make_sandbox(delivery_delay_s=0.05)
    waybill_no = await sandbox.create_waybill()
    await subscribe(sandbox, waybill_no, receiver)
    await subscribe(sandbox, waybill_no, receiver)

    await receiver.wait_for_accepted(4)
    await asyncio.sleep(0.1)  # a second schedule would have pushed by now
    assert len(receiver.calls) == 4
    [record] = await sandbox.records(kind="subscription")
    assert record["received"] == 2


async def test_app_shutdown_cancels_pending_pushes(sandbox, receiver):
    app = create_app(SandboxSettings(delivery_delay_s=60))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            created = await client.post("/carrier/waybills", json=sandbox.waybill_body())
            waybill_no = created.json()["waybill_no"]
            await subscribe_with(client, waybill_no, receiver)
            await receiver.wait_for_accepted(1)
            [task] = app.state.carrier.tracking._tasks.values()
        started = asyncio.get_running_loop().time()
    # Leaving the lifespan cancelled the push that was sleeping until IN_TRANSIT (20 s away).
    assert asyncio.get_running_loop().time() - started < 1
    assert task.cancelled()
    assert [json.loads(c.body)["status"] for c in receiver.calls] == ["COLLECTED"]


async def test_reset_cancels_schedules_and_forgets_waybills(make_sandbox, receiver):
    sandbox = await make_sandbox(delivery_delay_s=60)
    waybill_no = await sandbox.create_waybill()
    await subscribe(sandbox, waybill_no, receiver)
    await receiver.wait_for_accepted(1)

    assert (await sandbox.client.post("/_sandbox/reset")).json() == {"ok": True}
    assert sandbox.app.state.carrier.tracking._tasks == {}
    assert await sandbox.records() == []
    assert (await sandbox.client.get(f"/carrier/tracking/{waybill_no}")).status_code == 404


async def test_an_exception_holds_the_parcel_and_is_pushed_signed(make_sandbox, receiver):
    """Reference: tracking events include an exception, with time, site and operator."""
    sandbox = await make_sandbox(delivery_delay_s=30, carrier_callback_secret=SECRET)
    waybill_no = await sandbox.create_waybill()
    await subscribe(sandbox, waybill_no, receiver)
    await receiver.wait_for_accepted(1)  # COLLECTED at once; IN_TRANSIT is 10 s away

    response = await sandbox.client.post(f"/_sandbox/carrier/waybills/{waybill_no}/exception",
                                         json={"reason": "ADDRESS_UNREACHABLE"})
    assert response.status_code == 200, response.text
    event = response.json()
    assert (event["status"], event["event_id"], event["reason"]) == (
        "EXCEPTION", f"{waybill_no}-EXCEPTION", "ADDRESS_UNREACHABLE")
    assert event["site"] and event["operator"] and datetime.fromisoformat(event["time"]).utcoffset().total_seconds() == 0

    calls = await receiver.wait_for_accepted(2)
    payloads = [json.loads(c.body) for c in calls]
    assert [p["status"] for p in payloads] == ["COLLECTED", "EXCEPTION"]
    assert payloads[1] == event
    assert all(c.headers["x-carrier-signature"] == signature(c.body) for c in calls)
    tracking = (await sandbox.client.get(f"/carrier/tracking/{waybill_no}")).json()["events"]
    assert [e["status"] for e in tracking] == ["COLLECTED", "EXCEPTION"]

    again = await sandbox.client.post(f"/_sandbox/carrier/waybills/{waybill_no}/exception", json={})
    assert again.status_code == 409 and again.json()["error_code"] == "ILLEGAL_EXCEPTION"
    # Held: the push task is done and nothing follows.
    for _ in range(100):
        if not sandbox.app.state.carrier.tracking._tasks:
            break
        await asyncio.sleep(0.02)
    assert sandbox.app.state.carrier.tracking._tasks == {}
    assert len(receiver.calls) == 2


async def test_an_exception_needs_a_subscribed_parcel_not_yet_signed_for(make_sandbox, receiver):
    sandbox = await make_sandbox(delivery_delay_s=0)
    unknown = await sandbox.client.post("/_sandbox/carrier/waybills/SF000/exception", json={})
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "WAYBILL_NOT_FOUND"

    waybill_no = await sandbox.create_waybill()
    not_subscribed = await sandbox.client.post(f"/_sandbox/carrier/waybills/{waybill_no}/exception", json={})
    assert not_subscribed.status_code == 409 and not_subscribed.json()["error_code"] == "NOT_SUBSCRIBED"

    await subscribe(sandbox, waybill_no, receiver)
    await receiver.wait_for_accepted(4)
    signed = await sandbox.client.post(f"/_sandbox/carrier/waybills/{waybill_no}/exception", json={})
    assert signed.status_code == 409 and "signed for" in signed.json()["message"]
    assert [e["status"] for e in (await sandbox.client.get(f"/carrier/tracking/{waybill_no}")).json()["events"]] \
        == list(TRACKING_STATUSES)
