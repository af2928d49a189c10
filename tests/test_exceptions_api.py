"""The exception queues, order health and the rules through the HTTP API (ASGI in process), with orders
run by a real worker on the time-skipping server and the sandbox over HTTP."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.auth import ROLES, issue_token
from models.config import Settings
from models.principals import principal_by_token
from models.rules import DEFAULT_RULES_FILE
from models.tables import utcnow
from orderkit import BUYER, running_worker, wait_until


@pytest.fixture
async def hub(sqlite_url, sandbox_url, own_clock_env, tmp_path):
    """The API and a worker sharing a rules file of the test's own (copied from the shipped one)."""
    rules_file = tmp_path / "rules.yaml"
    shutil.copy(DEFAULT_RULES_FILE, rules_file)
    settings = Settings(database_url=sqlite_url, sandbox_url=sandbox_url, rules_file=rules_file, push_stock=False,
                        task_queue=f"test-{uuid.uuid4().hex[:8]}")
    app = create_app(settings, migrate=False)
    app.state.temporal = own_clock_env.client
    tokens = {role: await issue_token(sqlite_url, role) for role in ROLES}
    async with running_worker(own_clock_env.client, settings), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=30) as client:
        client.tokens, client.rules_file, client.db_url = tokens, rules_file, sqlite_url  # type: ignore[attr-defined]
        yield client
        # Settle: cancel whatever is still open so no pending work holds the clock.
        for item in (await client.get("/v1/orders", headers=auth(client, "admin"))).json()["items"]:
            if item["status"] not in ("COMPLETED", "CANCELLED"):
                await client.post(f"/v1/orders/{item['order_id']}/cancel", headers=auth(client, "admin"))


def auth(api, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.tokens[role]}"}


def order_body(**overrides) -> dict:
    buyer = {**BUYER, **overrides.pop("buyer", {})}
    return {"channel": "own_store", "shop": "default", "external_id": f"E{uuid.uuid4().hex[:10]}", "paid": True,
            "buyer": buyer, "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": 1999}], **overrides}


async def post(api, **overrides) -> dict:
    response = await api.post("/v1/orders", json=order_body(**overrides), headers=auth(api, "channel"))
    assert response.status_code == 201, response.text
    return response.json()


async def queue(api, **params) -> dict:
    response = await api.get("/v1/exceptions", params=params, headers=auth(api, "operator"))
    assert response.status_code == 200, response.text
    return response.json()


async def test_problem_orders_are_queued_by_tag_and_team_with_their_procedure(hub):
    fuzzy = await post(hub, buyer={"address": "菜鸟驿站代收"})
    phone = await post(hub, buyer={"phone": "12345"}, priority_tags=["vip"])
    dispute = await post(hub, buyer_message="差评预定，假货")
    clean = await post(hub)
    assert (fuzzy["exception_tags"], phone["exception_tags"], dispute["exception_tags"], clean["exception_tags"]) == (
        ["fuzzy_address"], ["invalid_phone"], ["dispute_words"], [])

    everything = await queue(hub)
    assert everything["total"] == 3
    ids = [item["order_id"] for item in everything["items"]]
    assert ids[0] == phone["order_id"]  # VIP first
    assert clean["order_id"] not in ids
    item = next(i for i in everything["items"] if i["order_id"] == fuzzy["order_id"])
    assert (item["tags"], item["severity"], item["team"], item["status"]) == (
        ["fuzzy_address"], "hold", "address_desk", "ON_HOLD")
    assert item["procedure"].startswith("fuzzy_address: Contact the buyer") and item["age"] >= 0
    assert set(item) >= {"order_id", "tags", "severity", "team", "age", "procedure"}

    address_desk = await queue(hub, team="address_desk")
    assert {i["order_id"] for i in address_desk["items"]} == {fuzzy["order_id"], phone["order_id"]}
    care = await queue(hub, tag="dispute_words")
    assert [(i["order_id"], i["severity"], i["team"]) for i in care["items"]] == [
        (dispute["order_id"], "flag", "customer_care")]
    assert (await queue(hub, min_age_s=3600))["total"] == 0  # nothing has waited an hour yet
    assert (await queue(hub, page=2))["items"] == []

    detail = (await hub.get(f"/v1/orders/{fuzzy['order_id']}", headers=auth(hub, "operator"))).json()
    assert (detail["health_score"], detail["exception_tags"]) == (80, ["fuzzy_address"])
    assert detail["health_reasons"] == [{"reason": "exception:fuzzy_address", "penalty": 20, "detail": ""}]


async def test_resolve_update_address_is_validated_recorded_and_reaches_the_order(hub):
    fuzzy = await post(hub, buyer={"address": "地铁站附近"})
    order_id = fuzzy["order_id"]
    missing = await hub.post(f"/v1/orders/{order_id}/resolve", json={"action": "update_address"},
                             headers=auth(hub, "operator"))
    assert missing.status_code == 422 and "address" in missing.text
    channel = await hub.post(f"/v1/orders/{order_id}/resolve", json={"action": "release"}, headers=auth(hub, "channel"))
    assert channel.status_code == 403

    corrected = {**BUYER, "address": "地铁站 B 口 创业大厦 6 楼 602"}
    spoofed = await hub.post(f"/v1/orders/{order_id}/resolve", headers=auth(hub, "operator"), json={
        "action": "update_address", "address": corrected, "resolved_by": "op-7"})
    assert spoofed.status_code == 422 and spoofed.json()["errors"][0]["field"] == "resolved_by"
    answer = await hub.post(f"/v1/orders/{order_id}/resolve", json={
        "action": "update_address", "address": corrected, "note": "buyer called back"},
        headers=auth(hub, "operator"))
    assert answer.status_code == 200, answer.text

    async def detail() -> dict:
        return (await hub.get(f"/v1/orders/{order_id}", headers=auth(hub, "operator"))).json()
    order = await wait_until(detail, lambda d: d["status"] == "AWAITING_SCAN")
    assert order["exception_tags"] == [] and order["health_score"] == 100
    assert order["buyer"]["address"] == corrected["address"]
    operator, _ = await principal_by_token(hub.db_url, hub.tokens["operator"], utcnow())
    updated = next(e for e in order["timeline"] if e["event"] == "address_updated")
    assert updated["detail"]["by"] == operator.actor and updated["at"]  # the caller, not a body field
    # The audit trail keeps the address it replaced, and who replaced it.
    trail = (await hub.get("/v1/audit", params={"object_type": "order", "object_id": order_id},
                           headers=auth(hub, "admin"))).json()["items"]
    change = next(e for e in trail if e["action"] == "resolve_hold" and e["outcome"] == "ok")
    assert change["actor_id"] == operator.id and change["role"] == "operator"
    assert change["before"]["address"]["address"] == "地铁站附近" and change["before"]["status"] == "ON_HOLD"
    assert change["after"]["address"]["address"] == corrected["address"]
    assert (await queue(hub))["total"] == 0

    again = await hub.post(f"/v1/orders/{order_id}/resolve", json={"action": "release"}, headers=auth(hub, "operator"))
    assert again.status_code == 409  # nothing to resolve any more


async def test_a_released_hold_records_the_caller_on_the_timeline_and_in_the_audit(hub):
    order_id = (await post(hub, buyer={"address": "地铁站附近"}))["order_id"]
    released = await hub.post(f"/v1/orders/{order_id}/resolve", json={"action": "release", "note": "checked"},
                              headers=auth(hub, "operator"))
    assert released.status_code == 200, released.text
    operator, _ = await principal_by_token(hub.db_url, hub.tokens["operator"], utcnow())
    order = (await hub.get(f"/v1/orders/{order_id}", headers=auth(hub, "operator"))).json()
    resolved = next(e for e in order["timeline"] if e["detail"].get("note") == "checked")
    assert resolved["detail"]["by"] == operator.actor
    entry = next(e for e in (await hub.get("/v1/audit", params={"object_id": order_id}, headers=auth(hub, "admin")))
                 .json()["items"] if e["action"] == "resolve_hold")
    assert (entry["actor_id"], entry["actor_name"], entry["outcome"]) == (operator.id, operator.name, "ok")
    assert (entry["before"]["status"], entry["before"]["exception_tags"]) == ("ON_HOLD", ["fuzzy_address"])
    assert entry["after"]["exception_tags"] == []  # released: the hold's tag resolved by the caller
    assert entry["ip"] and entry["request_id"]


async def test_rules_are_served_and_a_bad_file_is_refused_with_its_line(hub):
    served = (await hub.get("/v1/rules", headers=auth(hub, "operator"))).json()
    assert served["last_error"] is None and served["rules"]["sla"]["review_alert_s"] == 7200
    assert set(served["rules"]["tags"]) >= {"fuzzy_address", "invalid_phone", "payment_callback_failed",
                                            "out_of_stock", "suspected_fraud", "dispute_words"}

    rules_file: Path = hub.rules_file
    good = rules_file.read_text()
    lines = good.splitlines()
    bad_line = next(n for n, text in enumerate(lines, 1) if "severity: hold" in text)
    lines[bad_line - 1] = lines[bad_line - 1].replace("severity: hold", "severity: block")
    rules_file.write_text("\n".join(lines) + "\n")
    refused = await hub.post("/v1/rules/reload", headers=auth(hub, "admin"))
    assert refused.status_code == 422
    body = refused.json()
    assert body["line"] == bad_line and "severity" in body["reason"] and body["in_force"] == served["version"]
    assert (await hub.post("/v1/rules/reload", headers=auth(hub, "operator"))).status_code == 403
    # The running rules stay in force, and still screen new orders.
    kept = (await hub.get("/v1/rules", headers=auth(hub, "operator"))).json()
    assert kept["version"] == served["version"] and kept["last_error"]["line"] == bad_line
    assert (await post(hub, buyer={"address": "楼下代收"}))["exception_tags"] == ["fuzzy_address"]

    # A good change applies with no restart: dispute words now hold the order.
    rules_file.write_text(good.replace("severity: flag\n    team: customer_care", "severity: hold\n    team: customer_care"))
    applied = await hub.post("/v1/rules/reload", headers=auth(hub, "admin"))
    assert applied.status_code == 200 and applied.json()["version"] != served["version"]
    held = await post(hub, buyer_message="投诉")
    assert held["exception_tags"] == ["dispute_words"]
    order = await wait_until(lambda: hub.get(f"/v1/orders/{held['order_id']}", headers=auth(hub, "operator")),
                             lambda r: r.json()["status"] == "ON_HOLD")
    assert order.json()["hold_reason"] == "exception review: dispute_words"
