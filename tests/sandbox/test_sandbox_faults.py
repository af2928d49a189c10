"""Fault injection: failures before/after the effect, seeded failure rates, latency."""

import json
import time

import pytest

from sandbox.app import create_app
from sandbox.config import SandboxSettings

SHIPBACK = {"request_id": "s-1", "order_id": "WEB-1", "waybill_no": "SF123456789012", "carrier": "SF"}
OWN_STORE = {"Authorization": "Bearer sandbox-token-own_store"}  # the default own-store shop's token
REFUND = {"out_request_no": "RF-1", "refund_amount": "5.00"}  # plus the trade_no of a payment


async def test_failure_before_has_no_effect(sandbox):
    await sandbox.set_fault(endpoint="carrier.create_waybill", failure_rate=1.0, failure_mode="before")
    body = sandbox.waybill_body("req-before")

    failed = await sandbox.client.post("/carrier/waybills", json=body)
    assert failed.status_code == 503
    assert failed.json()["error_code"] == "SERVICE_UNAVAILABLE"
    assert await sandbox.records() == []

    # The failure is counted, so a drill can tell the faults really struck.
    assert (await sandbox.client.delete("/_sandbox/faults")).json() == {
        "rules": [], "injected": {"carrier.create_waybill": 1}}
    retried = await sandbox.client.post("/carrier/waybills", json=body)
    assert retried.status_code == 200
    [record] = await sandbox.records(kind="waybill", key="req-before")
    assert record["received"] == 1


async def test_failure_after_applies_effect_and_retry_gets_original_answer(sandbox):
    await sandbox.set_fault(endpoint="carrier.create_waybill", failure_rate=1.0, failure_mode="after")
    body = sandbox.waybill_body("req-after")

    lost = await sandbox.client.post("/carrier/waybills", json=body)
    assert lost.status_code == 503
    [record] = await sandbox.records(kind="waybill")
    assert record["received"] == 1
    original = record["result"]

    await sandbox.client.delete("/_sandbox/faults")
    retried = await sandbox.client.post("/carrier/waybills", json=body)
    assert retried.status_code == 200
    assert retried.json() == original
    [record] = await sandbox.records(kind="waybill")
    assert record["received"] == 2


async def test_refund_answer_lost_then_retried_moves_money_once(sandbox):
    refund = {**REFUND, "trade_no": await sandbox.pay()}
    await sandbox.set_fault(endpoint="gateway.refund", failure_rate=1.0, failure_mode="after")
    assert (await sandbox.client.post("/gateway/refund", json=refund)).status_code == 503
    await sandbox.client.delete("/_sandbox/faults")

    retried = await sandbox.client.post("/gateway/refund", json=refund)
    assert retried.json()["code"] == "10000"
    assert retried.json()["fund_change"] == "N"
    assert retried.json()["refund_amount"] == "5.00"
    [record] = await sandbox.records(kind="refund")
    assert record["received"] == 2
    assert record["result"]["fund_change"] == "Y"


async def shipback_outcomes(sandbox, count: int) -> list[int]:
    statuses = []
    for i in range(count):
        response = await sandbox.client.post("/own_store/default/shipments", json={**SHIPBACK, "request_id": f"s-{i}"},
                                             headers=OWN_STORE)
        statuses.append(response.status_code)
    return statuses


async def test_seeded_failure_rate_fails_about_half_and_replays(make_sandbox):
    rule = {"endpoint": "own_store.shipback", "failure_rate": 0.5}
    first = await make_sandbox(seed=1234, platform_rate_burst=1000)
    second = await make_sandbox(seed=1234, platform_rate_burst=1000)
    await first.set_fault(**rule)
    await second.set_fault(**rule)

    outcomes = await shipback_outcomes(first, 200)
    failures = outcomes.count(503)
    assert set(outcomes) == {200, 503}
    assert 70 <= failures <= 130
    assert len(await first.records(kind="shipback")) == outcomes.count(200)
    # Same seed, same draws: a failing run can be replayed exactly.
    assert await shipback_outcomes(second, 200) == outcomes


async def test_wildcard_rule_with_specific_override(sandbox):
    refund = {**REFUND, "trade_no": await sandbox.pay()}
    await sandbox.set_fault(endpoint="*", failure_rate=1.0)
    await sandbox.set_fault(endpoint="gateway.refund_query", failure_rate=0.0)

    assert (await sandbox.client.post("/gateway/refund", json=refund)).status_code == 503
    assert (await sandbox.client.post("/own_store/default/shipments", json=SHIPBACK, headers=OWN_STORE)).status_code == 503
    query = await sandbox.client.post("/gateway/refund/query", json={"trade_no": refund["trade_no"],
                                                                      "out_request_no": "RF-1"})
    assert query.status_code == 200
    assert (await sandbox.client.get("/healthz")).json() == {"ok": True}  # control routes are never faulted
    rules = (await sandbox.client.get("/_sandbox/faults")).json()["rules"]
    assert {r["endpoint"] for r in rules} == {"*", "gateway.refund_query"}


async def test_latency_is_added_before_handling(sandbox):
    await sandbox.set_fault(endpoint="carrier.tracking", latency_ms=150)
    started = time.monotonic()
    response = await sandbox.client.get("/carrier/tracking/SF000000000000")
    assert response.status_code == 404
    assert time.monotonic() - started >= 0.15


async def test_rules_from_settings_apply_at_start_and_survive_reset(make_sandbox):
    rules = [{"endpoint": "gateway.refund", "failure_rate": 1.0, "failure_mode": "before"}]
    sandbox = await make_sandbox(faults=json.dumps(rules))
    refund = {**REFUND, "trade_no": await sandbox.pay()}
    assert (await sandbox.client.post("/gateway/refund", json=refund)).status_code == 503

    await sandbox.client.delete("/_sandbox/faults")
    assert (await sandbox.client.post("/gateway/refund", json=refund)).status_code == 200
    await sandbox.client.post("/_sandbox/reset")
    assert (await sandbox.client.post("/gateway/refund", json=refund)).status_code == 503
    assert await sandbox.records() == []


def test_bad_fault_setting_fails_at_start():
    with pytest.raises(ValueError):
        create_app(SandboxSettings(faults='[{"endpoint": "carrier.teleport"}]'))


async def test_bad_fault_rule_is_rejected_naming_the_field(sandbox):
    response = await sandbox.client.put("/_sandbox/faults", json={"endpoint": "gateway.refund", "failure_rate": 2})
    assert response.status_code == 400
    assert response.json()["fields"] == ["failure_rate"]
    assert (await sandbox.client.get("/_sandbox/faults")).json() == {"rules": [], "injected": {}}


async def test_failure_after_hides_permanent_errors_too(sandbox):
    await sandbox.set_fault(endpoint="carrier.create_waybill", failure_rate=1.0, failure_mode="after")
    body = sandbox.waybill_body("req-bad", receiver={"phone": "123"})
    assert (await sandbox.client.post("/carrier/waybills", json=body)).status_code == 503
    assert await sandbox.records() == []

    await sandbox.client.delete("/_sandbox/faults")
    retried = await sandbox.client.post("/carrier/waybills", json=body)
    assert retried.status_code == 400
    assert retried.json()["error_code"] == "INVALID_PHONE"
