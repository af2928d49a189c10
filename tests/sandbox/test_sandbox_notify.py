"""The group robot (`POST /robot/send`): one notification record per key, robot error codes, faults."""

from typing import Any

import pytest

URL = "/robot/send"


def message(key: str = "T-1:sla:support_lead", **changes: Any) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"title": "SLA breached", "text": "### SLA breached\n\nticket T-1"},
            "at": {"atMobiles": [], "isAtAll": False}, "key": key, "audience": "support_lead",
            "subject": {"ticket_id": "T-1", "order_id": "own_store-A1"}, **changes}


async def send(sandbox, body: dict[str, Any], token: str = "support_lead") -> dict[str, Any]:
    response = await sandbox.client.post(URL, params={"access_token": token}, json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_one_record_per_key(sandbox):
    assert await send(sandbox, message()) == {"errcode": 0, "errmsg": "ok"}
    assert await send(sandbox, message()) == {"errcode": 0, "errmsg": "ok"}
    assert await send(sandbox, message("T-1:sla:finance"), token="finance") == {"errcode": 0, "errmsg": "ok"}
    [record] = await sandbox.records(kind="notification", key="T-1:sla:support_lead")
    assert record["received"] == 2
    assert record["body"] == {"robot": "support_lead", "audience": "support_lead", "msgtype": "markdown",
                              "title": "SLA breached", "text": "### SLA breached\n\nticket T-1",
                              "at": {"atMobiles": [], "isAtAll": False},
                              "subject": {"ticket_id": "T-1", "order_id": "own_store-A1"}}
    assert len(await sandbox.records(kind="notification")) == 2


async def test_text_messages_are_taken_too(sandbox):
    body = {"msgtype": "text", "text": {"content": "hello"}, "key": "k-text"}
    assert (await send(sandbox, body))["errcode"] == 0
    [record] = await sandbox.records(kind="notification")
    assert record["body"]["content"] == "hello" and record["body"]["audience"] == "support_lead"


@pytest.mark.parametrize("body", [
    {"msgtype": "markdown", "markdown": {"title": "t", "text": "x"}},  # no key
    {"msgtype": "image", "key": "k"},
    {"msgtype": "markdown", "key": "k"},  # no markdown
    {"msgtype": "markdown", "markdown": {"title": "", "text": "x"}, "key": "k"},
])
async def test_bad_messages_are_invalid_parameter(sandbox, body):
    assert (await send(sandbox, body))["errcode"] == 40035
    not_json = await sandbox.client.post(URL, params={"access_token": "ops"}, content=b"{",
                                         headers={"Content-Type": "application/json"})
    assert not_json.json()["errcode"] == 40035
    assert await sandbox.records(kind="notification") == []


async def test_unknown_or_revoked_robot(sandbox):
    no_token = await sandbox.client.post(URL, json=message())
    assert no_token.json()["errcode"] == 300001
    (await sandbox.client.put("/_sandbox/robots/finance", json={"revoked": True})).raise_for_status()
    assert (await send(sandbox, message(), token="finance"))["errcode"] == 300001
    assert await sandbox.records(kind="notification") == []
    (await sandbox.client.put("/_sandbox/robots/finance", json={"revoked": False})).raise_for_status()
    assert (await send(sandbox, message(), token="finance"))["errcode"] == 0


async def test_rate_limit_per_robot(sandbox):
    (await sandbox.client.put("/_sandbox/robots/ops", json={"per_min": 0.5, "burst": 2})).raise_for_status()
    answers = [(await send(sandbox, message(f"k-{i}"), token="ops"))["errcode"] for i in range(3)]
    assert answers == [0, 0, 130101]
    assert (await send(sandbox, message("k-other")))["errcode"] == 0  # another robot is not throttled
    assert len(await sandbox.records(kind="notification")) == 3


async def test_faults_and_reset(sandbox):
    await sandbox.set_fault(endpoint="robot.send", failure_rate=1.0, failure_mode="after")
    assert (await sandbox.client.post(URL, params={"access_token": "ops"}, json=message())).status_code == 503
    await sandbox.client.delete("/_sandbox/faults")
    assert (await send(sandbox, message(), token="ops"))["errcode"] == 0
    [record] = await sandbox.records(kind="notification")
    assert record["received"] == 2  # the lost answer's message and its retry: one notification

    (await sandbox.client.put("/_sandbox/robots/ops", json={"revoked": True})).raise_for_status()
    await sandbox.client.post("/_sandbox/reset")
    assert await sandbox.records(kind="notification") == []
    assert (await send(sandbox, message(), token="ops"))["errcode"] == 0  # robots are forgotten too


async def test_record_kinds_are_filterable(sandbox):
    for kind in ("notification", "channel_refund"):
        response = await sandbox.client.get("/_sandbox/records", params={"kind": kind})
        assert response.status_code == 200 and response.json() == {"items": [], "total": 0}
    assert (await sandbox.client.get("/_sandbox/records", params={"kind": "nope"})).status_code == 400
