"""Who may call what (api.access): the full role x route matrix, scoped and unscoped, decided by the
table; and a principal scoped to one shop sees and touches only that shop's orders and tickets."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.routing import APIRoute

from api.access import PUBLIC, RULES, api_routes, check_routes
from api.app import create_app
from models.config import Settings
from models.principals import ROLES, issue_principal
from orderkit import BUYER, running_worker, settings_for
from ticketkit import order_at, settle_tickets

# A value for each path parameter: none of them exists, so an admitted caller gets past the check.
PATH_VALUES = {"order_id": "own_store:default:NOPE", "ticket_id": "AS-NOPE", "sku": "SKU-NOPE", "channel": "jd",
               "shop": "default", "item_id": "999999", "date": "2026-01-01", "principal_id": "p_nope",
               "code": "not_found"}


def routes(app) -> list[tuple[str, str, APIRoute]]:
    return [(method, route.path, route) for route in api_routes(app) for method in sorted(route.methods)]


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)


def test_every_route_has_a_rule_and_every_rule_a_route():
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"), migrate=False)
    check_routes(app)  # create_app ran it too: a route without a rule would not have started
    names = {route.name for _, _, route in routes(app)}
    assert set(RULES) <= names, f"rules for routes that do not exist: {set(RULES) - names}"
    assert names <= set(RULES) | PUBLIC
    assert not set(RULES) & PUBLIC


def test_a_route_without_a_rule_stops_the_api(monkeypatch):
    monkeypatch.delitem(RULES, "get_order")
    with pytest.raises(RuntimeError, match="/v1/orders/{order_id}"):
        create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"), migrate=False)


@pytest.fixture
async def matrix_api(sqlite_url, ts_env):
    app = create_app(Settings(database_url=sqlite_url, auth_failure_limit=10_000), migrate=False)
    app.state.temporal = ts_env.client
    tokens = {}
    for role in ROLES:
        tokens[role, False] = (await issue_principal(sqlite_url, role=role, name=f"all-{role}"))[1]
        tokens[role, True] = (await issue_principal(sqlite_url, role=role, name=f"dy-{role}", channel="douyin",
                                                    shop="default"))[1]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        yield app, client, tokens


async def test_role_by_route_matrix(matrix_api):
    """Every route, every role, scoped and not: 403 exactly where the table says no; never 401 with a
    valid token; 401 without one. The table decides: nothing else in a route refuses a role."""
    app, client, tokens = matrix_api
    checked = 0
    for method, path, route in routes(app):
        if route.name in PUBLIC:
            continue
        rule, url = RULES[route.name], concrete(path)
        body = {} if method in ("POST", "PUT") else None
        anonymous = await client.request(method, url, json=body)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        for (role, scoped), token in tokens.items():
            answer = await client.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"})
            refused = role not in rule.roles or (scoped and not rule.scoped)
            where = (method, path, role, "scoped" if scoped else "unscoped", answer.status_code, answer.text[:200])
            if refused:
                assert answer.status_code == 403, where
                assert answer.headers["content-type"].startswith("application/problem+json"), where
            else:
                assert answer.status_code not in (401, 403), where
            checked += 1
    assert checked >= len(RULES) * len(ROLES) * 2


@pytest.fixture
async def shops_hub(sqlite_url, sandbox_url, ts_env):
    settings = settings_for(sqlite_url, sandbox_url)
    app = create_app(settings, migrate=False)
    app.state.temporal = ts_env.client
    admin = (await issue_principal(sqlite_url, role="admin", name="root"))[1]
    douyin = (await issue_principal(sqlite_url, role="channel", name="douyin-app", channel="douyin", shop="default"))[1]
    own = (await issue_principal(sqlite_url, role="channel", name="store-app", channel="own_store", shop="default"))[1]
    async with running_worker(ts_env.client, settings), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        client.settings, client.env = settings, ts_env  # type: ignore[attr-defined]
        client.as_admin = {"Authorization": f"Bearer {admin}"}  # type: ignore[attr-defined]
        client.as_douyin = {"Authorization": f"Bearer {douyin}"}  # type: ignore[attr-defined]
        client.as_own = {"Authorization": f"Bearer {own}"}  # type: ignore[attr-defined]
        yield client
        await settle_tickets(ts_env, sqlite_url)


def douyin_order(external_id: str) -> dict:
    return {"channel": "douyin", "shop": "default", "external_id": external_id, "paid": True, "buyer": BUYER,
            "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": 1999}]}


async def test_a_shop_scoped_principal_sees_and_touches_only_its_shop(shops_hub):
    hub = shops_hub
    shop = {"channel": "douyin", "shop": "default",
            "credentials": {"app_key": "k", "app_secret": "s", "access_token": "t"}}
    assert (await hub.post("/v1/shops", json=shop, headers=hub.as_admin)).status_code == 201
    mine = await hub.post("/v1/orders", json=douyin_order("DY-1"), headers=hub.as_douyin)
    assert mine.status_code == 201, mine.text
    own_order, _ = await order_at(hub.env, hub.settings, [("SKU-1", 2)], delivered=True)
    ticket = await hub.post("/v1/after-sales", headers=hub.as_admin, json={
        "order_id": own_order.order_id, "type": "refund_only", "reason": "quality",
        "lines": [{"sku": "SKU-1", "quantity": 1}], "request_id": "scope-1"})
    assert ticket.status_code in (200, 201), ticket.text
    ticket_id = ticket.json()["ticket_id"]

    # Another shop's order and ticket: 404 on every route, exactly as one that does not exist.
    theirs = f"/v1/orders/{own_order.order_id}"
    for method, url, body in [
        ("GET", theirs, None), ("POST", f"{theirs}/payment", {}), ("POST", f"{theirs}/cancel", {}),
        ("GET", f"/v1/after-sales/{ticket_id}", None),
        ("POST", f"/v1/after-sales/{ticket_id}/return-shipped", {"waybill_no": "SF1"}),
    ]:
        answer = await hub.request(method, url, json=body, headers=hub.as_douyin)
        missing = await hub.request(method, url.replace(own_order.order_id, "own_store:default:NOPE")
                                    .replace(ticket_id, "AS-NOPE"), json=body, headers=hub.as_douyin)
        assert answer.status_code == 404, (method, url, answer.text)
        assert answer.json()["type"] == missing.json()["type"] and answer.json()["title"] == missing.json()["title"]
    opened = await hub.post("/v1/after-sales", headers=hub.as_douyin, json={
        "order_id": own_order.order_id, "type": "refund_only", "reason": "quality",
        "lines": [{"sku": "SKU-1", "quantity": 1}], "request_id": "scope-2"})
    assert opened.status_code == 404, opened.text

    # Lists hold only its own; creating for another shop is refused outright.
    listed = (await hub.get("/v1/orders", headers=hub.as_douyin)).json()
    assert [o["order_id"] for o in listed["items"]] == ["douyin:default:DY-1"] and listed["total"] == 1
    assert (await hub.get("/v1/after-sales", headers=hub.as_douyin)).json()["total"] == 0
    assert (await hub.get("/v1/orders?channel=own_store", headers=hub.as_douyin)).json()["total"] == 0
    other_shop = await hub.post("/v1/orders", json={**douyin_order("DY-2"), "shop": "flagship"}, headers=hub.as_douyin)
    assert other_shop.status_code == 403, other_shop.text
    own_store = await hub.post("/v1/orders", json={**douyin_order("DY-3"), "channel": "own_store"}, headers=hub.as_douyin)
    assert own_store.status_code == 403, own_store.text

    # Its own order, and the other principal's view of the same: each sees its own shop only.
    assert (await hub.get("/v1/orders/douyin:default:DY-1", headers=hub.as_douyin)).status_code == 200
    assert (await hub.get("/v1/orders/douyin:default:DY-1", headers=hub.as_own)).status_code == 404
    assert (await hub.get(theirs, headers=hub.as_own)).status_code == 200
    assert (await hub.get(f"/v1/after-sales/{ticket_id}", headers=hub.as_own)).status_code == 200
    # Scoped principals are kept off the routes that are not per shop.
    assert (await hub.get("/v1/quarantine", headers=hub.as_douyin)).status_code == 403


def test_each_operation_states_its_rule_in_the_openapi_document():
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"), migrate=False)
    operations = {op["operationId"]: op for path in app.openapi()["paths"].values() for op in path.values()}
    for name, rule in RULES.items():
        assert f"**Access:** roles {', '.join(rule.roles)};" in operations[name]["description"], name


async def test_guessing_tokens_is_slowed_down_with_retry_after(sqlite_url):
    app = create_app(Settings(database_url=sqlite_url, auth_failure_limit=3, auth_failure_window_s=60), migrate=False)
    admin = (await issue_principal(sqlite_url, role="admin", name="root"))[1]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        guesses = [(await client.get("/v1/orders", headers={"Authorization": f"Bearer oh_admin_guess{n}"})).status_code
                   for n in range(3)]
        assert guesses == [401, 401, 401]
        slowed = await client.get("/v1/orders", headers={"Authorization": f"Bearer {admin}"})
        assert slowed.status_code == 429 and 1 <= int(slowed.headers["retry-after"]) <= 60
        assert slowed.headers["content-type"].startswith("application/problem+json")
    # Another client is not slowed by these guesses.
    transport = httpx.ASGITransport(app=app, client=("10.0.0.9", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as other:
        assert (await other.get("/v1/orders", headers={"Authorization": f"Bearer {admin}"})).status_code == 200
