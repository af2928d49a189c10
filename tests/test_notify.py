"""NotifierActivities.notify in Temporal's ActivityEnvironment against the sandbox's group robot, running as
its own process: one message per key, the robot's errcode as retryable or not, an outage retryable."""

from __future__ import annotations

import uuid

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.http import PartnerHttp
from activities.notify import NotifierActivities
from models.notify import Notification


@pytest.fixture
async def sandbox(sandbox_url):
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        yield client


@pytest.fixture
async def notifier(sandbox_url):
    http = PartnerHttp(sandbox_url)
    try:
        yield NotifierActivities(http)
    finally:
        await http.aclose()


def audience() -> str:
    """A robot of this test's own on the shared sandbox."""
    return f"r{uuid.uuid4().hex[:12]}"


def note(who: str, key: str | None = None, **changes) -> Notification:
    return Notification(**{"key": key or f"T-{uuid.uuid4().hex[:8]}:sla:{who}", "audience": who,
                           "title": "SLA breached", "text": "ticket awaits a first answer",
                           "subject": {"ticket_id": "T-1", "order_id": "own_store-A1"}, **changes})


async def notifications(sandbox: httpx.AsyncClient, key: str) -> list[dict]:
    response = await sandbox.get("/_sandbox/records", params={"kind": "notification", "key": key})
    return response.json()["items"]


async def test_one_message_per_key(sandbox, notifier):
    who = audience()
    n = note(who)
    env = ActivityEnvironment()
    for _ in range(2):  # a retried activity
        await env.run(notifier.notify, n)
    [record] = await notifications(sandbox, n.key)
    assert record["received"] == 2
    body = record["body"]
    assert (body["robot"], body["audience"], body["msgtype"], body["title"]) == (who, who, "markdown", "SLA breached")
    assert body["text"] == ("### SLA breached\n\nticket awaits a first answer\n\n"
                            "> ticket_id: T-1 · order_id: own_store-A1")
    assert body["at"] == {"atMobiles": [], "atUserIds": [], "isAtAll": False}
    assert body["subject"] == {"ticket_id": "T-1", "order_id": "own_store-A1"}

    other = note(who, text="", title="")  # empty title and text still make a message
    await env.run(notifier.notify, other)
    [record] = await notifications(sandbox, other.key)
    assert record["body"]["title"] == who


async def test_robot_refusal_is_not_retried(sandbox, notifier):
    who = audience()
    (await sandbox.put(f"/_sandbox/robots/{who}", json={"revoked": True})).raise_for_status()
    n = note(who)
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(notifier.notify, n)
    assert err.value.type == "notify_refused" and err.value.non_retryable
    assert err.value.details[0]["errcode"] == 300001
    assert await notifications(sandbox, n.key) == []


async def test_robot_rate_limit_is_retried(sandbox, notifier):
    who = audience()
    (await sandbox.put(f"/_sandbox/robots/{who}", json={"per_min": 0.5, "burst": 1})).raise_for_status()
    env = ActivityEnvironment()
    await env.run(notifier.notify, note(who))
    with pytest.raises(ApplicationError) as err:
        await env.run(notifier.notify, note(who))
    assert err.value.type == "notify_rate_limited" and not err.value.non_retryable
    assert err.value.details[0]["errcode"] == 130101


async def test_outage_is_retryable_and_a_lost_answer_is_one_message(sandbox, notifier):
    n = note(audience())
    env = ActivityEnvironment()
    try:
        await sandbox.put("/_sandbox/faults", json={"endpoint": "robot.send", "failure_rate": 1.0,
                                                    "failure_mode": "after"})
        with pytest.raises(ApplicationError) as err:
            await env.run(notifier.notify, n)
        assert err.value.type == "partner_unavailable" and not err.value.non_retryable
    finally:
        await sandbox.put("/_sandbox/faults", json={"endpoint": "robot.send", "failure_rate": 0.0})
    await env.run(notifier.notify, n)  # the retry
    [record] = await notifications(sandbox, n.key)
    assert record["received"] == 2


async def test_audience_to_robot_token(sandbox, sandbox_url):
    token = audience()
    http = PartnerHttp(sandbox_url)
    try:
        notifier = NotifierActivities(http, robots={"finance": token})
        n = note("finance")
        await ActivityEnvironment().run(notifier.notify, n)
    finally:
        await http.aclose()
    [record] = await notifications(sandbox, n.key)
    assert (record["body"]["robot"], record["body"]["audience"]) == (token, "finance")
