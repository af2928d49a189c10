"""OpenAPI-driven fuzzing of the API (schemathesis): whatever a caller sends, the answer is never a
5xx, never an unhandled exception, and conforms to the schema where the schema says something.

Every operation of the app's own OpenAPI document is fuzzed in process (httpx over ASGI on the
suite's event loop) against one migrated, seeded SQLite database, with schemathesis' positive
(schema-valid) and negative (schema-violating) cases. Each case goes out with a bearer token of a
random role (mostly admin, so most cases get past the role check), a bogus one, or none. Half the
cases name the seeded order, SKU, shop and warehouse instead of random ones, so reads and actions
get past their 404s.
The two raw-body endpoints the schema cannot describe, `POST /v1/webhooks/{channel}/{shop}` and
`POST /v1/carriers/tracking`, also get JSON bodies made from the golden platform payloads with
values replaced, keys dropped or junk added, most of them correctly signed, so the platform
mappers and the quarantine see bad input too.

Temporal: the app talks to this module's time-skipping test server, and no worker polls its task
queue. Signals, starts and updates to a workflow that does not exist answer at once, so those
paths are fuzzed. Two kinds of request would wait for a worker (up to ANSWER_WITHIN = 20 s for the
stock decision) and are therefore not sent: a `POST /v1/orders` body that is a valid order of known
SKUs, and a `POST /v1/quarantine/{id}/retry` that would start such an order. Their validation
paths (422 + quarantine, unknown SKU) are fuzzed. POST /v1/after-sales cannot reach Temporal
here (the only order is unpaid and there are no tickets). Every request must answer within
REQUEST_WITHIN, so a request that unexpectedly waits on a workflow fails the test instead of
hanging it.

Not fuzzed with negative cases: operations whose only input is the bearer token (the test sets it
itself), and the tracking callback's free-text signature header (its bad input is the body).

Checks (schemathesis): not_a_server_error, content_type_conformance, and response_schema_conformance
for every status, errors included: each is declared (api/openapi.py) as application/problem+json with
the `Problem` schema. Every error body is also checked here for the problem members (and a 422's
`errors` for `field` and `reason`).

Bugs the run found: pages, quarantine ids and queue ages past what the database or the calendar can
hold were a 500 (now refused with 422), and so was a platform status sent as a JSON object or array
(now a mapping error naming the field, quarantined); regressions at the end.

Examples are derandomized when CI is set (the same cases on every CI run); locally each run
explores new ones. No example database is written (`database=None`).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import schemathesis
import structlog
from hypothesis import HealthCheck, Phase, event, given, reject, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance
from sqlalchemy import select

from activities.inventory import reserve_stock
from activities.orders import register_order
from api.app import create_app
from api.auth import ROLES, issue_token
from api.intake import ORDER_SOURCE
from models.config import Settings
from models.db import dispose_engines, session_scope, upgrade
from models.inventory import ReserveStockInput, StockRequest
from models.order import Order, order_id_for
from models.order_workflow import RegisterOrderInput
from models.seed import seed_demo, seed_sandbox_shops
from models.tables import QuarantinedPayload, Shop, Sku
from orderkit import make_order
from problemkit import code_of, is_problem

GOLDEN = Path(__file__).parent / "channels" / "golden"
SEEDED_ORDER_EXTERNAL_ID = "FUZZ-1"
SEEDED_ORDER = order_id_for("own_store", "default", SEEDED_ORDER_EXTERNAL_ID)
# Path parameters a case may take from the seeded data instead, to get past the 404s.
KNOWN = {"order_id": SEEDED_ORDER, "sku": "SKU-1", "channel": "own_store", "shop": "default"}
REQUEST_WITHIN = 10.0  # s; far above any answer that does not wait for a worker
CARRIER_SECRET = Settings().carrier_callback_secret
WEBHOOK_CHANNELS = ("own_store", "shopify")  # the channels that push

# The schema only: the app under test is built per module below, on its own database.
SCHEMA = schemathesis.openapi.from_dict(
    create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"), migrate=False).openapi())
OPERATIONS = sorted(f"{op.method.upper()} {op.path}" for op in (r.ok() for r in SCHEMA.get_all_operations()))


def _negatable(operation: str) -> bool:
    """Something to get wrong besides the bearer token (which the test sets itself). The tracking
    callback's only parameter is a free-text header: its bad input is the raw body (below); a problem
    type's only one is a free-text code."""
    if operation in ("POST /v1/carriers/tracking", "GET /problems/{code}"):  # any code is a string: 404 or 200
        return False
    method, path = operation.split(" ", 1)
    api_operation = SCHEMA[path][method]
    return bool(api_operation.body) or any(p.name.lower() != "authorization" for p in api_operation.iter_parameters())


RUNS = [pytest.param(op, GenerationMode.POSITIVE, id=f"{op}-positive") for op in OPERATIONS] + [
    pytest.param(op, GenerationMode.NEGATIVE, id=f"{op}-negative") for op in OPERATIONS if _negatable(op)]

FUZZ = settings(
    max_examples=20, deadline=None, database=None, print_blob=True, derandomize=bool(os.environ.get("CI")),
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                           HealthCheck.large_base_example, HealthCheck.function_scoped_fixture],
)
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module", autouse=True)
def plain_tracebacks():
    """structlog's default console renderer prints every frame's locals of a logged exception (the
    app logs each unhandled error): for a fuzz run that finds one, thousands of lines per case, and
    minutes of shrinking. Plain tracebacks for this module; the configuration is put back after."""
    before = structlog.get_config()
    structlog.configure(processors=[*before["processors"][:-1], structlog.dev.ConsoleRenderer(
        colors=False, exception_formatter=structlog.dev.plain_traceback)])
    yield
    structlog.configure(**before)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fuzz_api(tmp_path_factory, ts_env):
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz') / 'orderhub.db'}"
    await upgrade(url)
    await seed_demo(url)
    await seed_sandbox_shops(url)  # a "default" shop on every channel: the webhook paths
    # One unpaid order holding stock: reads and actions on it get past their 404. (Unpaid, so
    # POST /v1/after-sales is refused before it could start a ticket's workflow.)
    order = make_order([("SKU-1", 2), ("SKU-2", 1)], external_id=SEEDED_ORDER_EXTERNAL_ID)
    await register_order(url, RegisterOrderInput(order=order, workflow_id=f"order-{SEEDED_ORDER}",
                                                 received_at=datetime.now(UTC)))
    await reserve_stock(url, ReserveStockInput(order_id=SEEDED_ORDER, buyer_province=order.buyer.province,
                                               lines=[StockRequest(sku=l.sku, quantity=l.quantity) for l in order.lines]))
    app = create_app(Settings(database_url=url, task_queue=f"fuzz-{uuid.uuid4().hex[:8]}"), migrate=False)
    app.state.temporal = ts_env.client
    tokens = {role: await issue_token(url, role) for role in ROLES}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        client.tokens = tokens  # type: ignore[attr-defined]
        client.db_url = url  # type: ignore[attr-defined]
        yield client
    await dispose_engines()


# --- request bodies the schema does not describe ------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """A payload near a valid one: some values replaced (at any depth), keys dropped or added; now
    and then no object at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    payload = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 4))):
        node = payload
        while isinstance(node, (dict, list)) and node and draw(st.booleans()):
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            child = node[draw(st.sampled_from(keys))]
            if not isinstance(child, (dict, list)) or not child:
                break
            node = child
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
            action = draw(st.sampled_from(["replace", "drop", "add"]))
            if action == "replace":
                node[key] = draw(json_values)
            elif action == "drop":
                del node[key]
            else:
                node[draw(st.text(max_size=10))] = draw(json_values)
        elif isinstance(node, list) and node:
            node[draw(st.integers(0, len(node) - 1))] = draw(json_values)
    return payload


def golden(name: str) -> dict[str, Any]:
    payload = json.loads((GOLDEN / f"{name}_order.json").read_text())
    if name == "own_store":
        payload.update(shop="default", lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": 1990}], discount=0)
    return payload


TRACKING_EVENT = {"event_id": "e-1", "waybill_no": "SF0000000001", "status": "IN_TRANSIT",
                  "time": "2026-01-01T00:00:00+00:00", "site": "Shanghai"}


async def app_secret(db_url: str, channel: str, shop: str = "default") -> str:
    """The shop's secret as it is now (the fuzzed PUT /v1/shops may have changed it)."""
    async with session_scope(db_url) as session:
        return (await session.get(Shop, (channel, shop))).app_secret


async def raw_body(data: st.DataObject, db_url: str, operation: str, case: Any) -> tuple[bytes, dict[str, str]] | None:
    """For the raw-body endpoints: a JSON body near a valid one, signed as the sender would (mostly)."""
    if operation == "POST /v1/carriers/tracking":
        body = json.dumps(data.draw(mutated(TRACKING_EVENT), label="tracking body")).encode()
        signed = data.draw(st.sampled_from([True, True, True, False]), label="signed")
        signature = hmac.new(CARRIER_SECRET.encode(), body, hashlib.sha256).hexdigest() if signed else "0" * 64
        return body, {"X-Carrier-Signature": signature, "Content-Type": "application/json"}
    if operation == "POST /v1/webhooks/{channel}/{shop}":
        channel = data.draw(st.sampled_from(WEBHOOK_CHANNELS), label="webhook channel")
        case.path_parameters.update(channel=channel, shop="default")
        body = json.dumps(data.draw(mutated(golden(channel)), label="webhook body")).encode()
        secret = await app_secret(db_url, channel)
        if not data.draw(st.sampled_from([True, True, True, False]), label="signed"):
            secret = "not-the-secret"
        digest = hmac.new(secret.encode(), body, hashlib.sha256)
        # A few ids again and again (deliveries seen before), or a new one.
        event_id = data.draw(st.sampled_from(["evt-1", "evt-2"]) | st.uuids().map(lambda u: u.hex), label="event id")
        if channel == "shopify":
            return body, {"X-Shopify-Hmac-SHA256": base64.b64encode(digest.digest()).decode(),
                          "X-Shopify-Event-Id": event_id, "Content-Type": "application/json"}
        return body, {"X-OwnStore-Hmac-SHA256": digest.hexdigest(), "X-OwnStore-Event-Id": event_id,
                      "Content-Type": "application/json"}
    return None


# --- what is not sent: requests that would wait for a worker ------------------------------------


async def starts_an_order(db_url: str, payload: Any) -> bool:
    """A valid order of known SKUs for a registered shop: POST /v1/orders would start its workflow
    and wait for the stock decision, which no worker makes here."""
    try:
        order = Order.model_validate(payload)
    except (ValidationError, TypeError, ValueError):
        return False
    skus = {line.sku for line in order.lines}
    async with session_scope(db_url) as session:
        known = set((await session.execute(select(Sku.code).where(Sku.code.in_(skus)))).scalars())
        shop = await session.get(Shop, (order.channel, order.shop))
    return skus <= known and shop is not None


async def would_wait_for_a_worker(db_url: str, operation: str, case: Any, body: Any) -> bool:
    if operation == "POST /v1/orders":
        return await starts_an_order(db_url, body)
    if operation == "POST /v1/quarantine/{item_id}/retry":
        item_id = case.path_parameters.get("item_id")
        if not isinstance(item_id, int) or not 1 <= item_id < 2**31:  # else refused (422) before a lookup
            return False
        async with session_scope(db_url) as session:
            item = await session.get(QuarantinedPayload, item_id)
        if item is None or item.source != ORDER_SOURCE or item.status != "QUARANTINED":
            return False
        payload = body.get("payload") if isinstance(body, dict) else None
        if payload is None:
            try:
                payload = json.loads(item.payload)
            except ValueError:
                return False
        return await starts_an_order(db_url, payload)
    return False


# --- the fuzz run ---------------------------------------------------------------------------------


def check_problem_body(response: httpx.Response) -> None:
    """An error answer: a problem body; a 422 names each bad field."""
    body = response.json()
    assert is_problem(response), body
    if response.status_code == 422:
        assert code_of(body) in ("validation_failed", "rules_invalid"), body
    if code_of(body) == "validation_failed":
        assert body.get("errors") and all(set(e) == {"field", "reason"} for e in body["errors"]), body


@pytest.mark.timeout(600)
@pytest.mark.parametrize("operation, mode", RUNS)
@FUZZ
@given(data=st.data())
async def test_fuzzed_requests_never_get_a_server_error(fuzz_api, operation, mode, data):
    method, path = operation.split(" ", 1)
    api_operation = SCHEMA[path][method]
    case = data.draw(api_operation.as_strategy(generation_mode=mode), label="case")
    if data.draw(st.booleans(), label="known names"):  # the seeded order, a real sku, shop, warehouse
        case.path_parameters = {**(case.path_parameters or {}),
                                **{k: v for k, v in KNOWN.items() if k in (case.path_parameters or {})}}
        if isinstance(case.body, dict) and "warehouse" in case.body:
            case.body = {**case.body, "warehouse": "WH-SH"}

    kwargs = case.as_transport_kwargs(base_url="http://api")
    headers = {k: v for k, v in kwargs.get("headers", {}).items()
               if k.lower() not in ("authorization", "x-schemathesis-testcaseid")}
    role = data.draw(st.sampled_from(["admin"] * 10 + [*ROLES, "bogus", None]), label="role")
    if role == "bogus":
        headers["Authorization"] = "Bearer oh_admin_not-a-token"
    elif role is not None:
        headers["Authorization"] = f"Bearer {fuzz_api.tokens[role]}"

    body: Any = kwargs.get("json")
    content: bytes | None = None
    if "json" in kwargs:
        content = json.dumps(body).encode()
    elif kwargs.get("data") is not None:
        content = kwargs["data"] if isinstance(kwargs["data"], bytes) else str(kwargs["data"]).encode()
    if mode == GenerationMode.POSITIVE and (raw := await raw_body(data, fuzz_api.db_url, operation, case)) is not None:
        content, extra = raw
        headers.update(extra)
        kwargs = case.as_transport_kwargs(base_url="http://api")  # the path parameters may have changed

    if await would_wait_for_a_worker(fuzz_api.db_url, operation, case, body):
        event("not sent: would wait for a worker")
        reject()
    try:
        request = fuzz_api.build_request(method, kwargs["url"], params=kwargs.get("params"), headers=headers,
                                         cookies=kwargs.get("cookies"), content=content)
    except (ValueError, TypeError, UnicodeError, httpx.HTTPError):
        event("not sent: httpx cannot encode the request")  # e.g. a header value outside latin-1
        reject()
    sent = f"{request.method} {request.url} as {role}, body {(content or b'')[:1000]!r}"
    try:
        response = await asyncio.wait_for(fuzz_api.send(request), REQUEST_WITHIN)
    except TimeoutError:
        pytest.fail(f"no answer within {REQUEST_WITHIN} s (waiting for a workflow?) to {sent}")
    except Exception as err:  # the app raised: an unhandled exception (answered 500)
        err.add_note(f"request: {sent}")
        raise
    event(f"status {response.status_code}")

    assert response.status_code < 500, f"{response.status_code} {response.text[:500]} to {sent}"
    if response.status_code >= 400:
        check_problem_body(response)
    case.validate_response(response, checks=CHECKS, headers=headers)


# --- regressions the fuzz run found -----------------------------------------------------------------

PAGED = ["/v1/orders", "/v1/after-sales", "/v1/quarantine", "/v1/exceptions", "/v1/sla/breaches"]


@pytest.mark.parametrize("path", PAGED)
async def test_a_page_past_the_databases_integers_is_refused_not_a_server_error(fuzz_api, path):
    """page=2**62 made an OFFSET beyond SQLite's (and PostgreSQL's) 64-bit integers: OverflowError, 500."""
    headers = {"Authorization": f"Bearer {fuzz_api.tokens['admin']}"}
    response = await fuzz_api.get(path, params={"page": 2**62}, headers=headers)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["page"]
    last = await fuzz_api.get(path, params={"page": 1_000_000}, headers=headers)  # the largest page: empty
    assert last.status_code == 200 and last.json()["items"] == []


async def test_a_quarantine_id_past_the_databases_integers_is_refused_not_a_server_error(fuzz_api):
    """item_id=2**63 overflowed SQLite's INTEGER (OverflowError, 500); PostgreSQL's int4 id column
    overflows at 2**31 already."""
    headers = {"Authorization": f"Bearer {fuzz_api.tokens['admin']}"}
    for item_id in (2**31, 2**63):
        response = await fuzz_api.post(f"/v1/quarantine/{item_id}/retry", headers=headers)
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["item_id"]
    missing = await fuzz_api.post(f"/v1/quarantine/{2**31 - 1}/retry", headers=headers)
    assert missing.status_code == 404


async def test_a_queue_age_past_the_calendar_is_refused_not_a_server_error(fuzz_api):
    """min_age_s=10**12 made `now - timedelta(...)` fall before year 1: OverflowError, 500."""
    headers = {"Authorization": f"Bearer {fuzz_api.tokens['admin']}"}
    response = await fuzz_api.get("/v1/exceptions", params={"min_age_s": 10**12}, headers=headers)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["min_age_s"]
    oldest = await fuzz_api.get("/v1/exceptions", params={"min_age_s": 10**9}, headers=headers)
    assert oldest.status_code == 200


async def signed_own_store_webhook(fuzz_api, payload: dict[str, Any], event_id: str) -> httpx.Response:
    body = json.dumps(payload).encode()
    digest = hmac.new((await app_secret(fuzz_api.db_url, "own_store")).encode(), body, hashlib.sha256).hexdigest()
    return await fuzz_api.post("/v1/webhooks/own_store/default", content=body, headers={
        "X-OwnStore-Hmac-SHA256": digest, "X-OwnStore-Event-Id": event_id, "Content-Type": "application/json"})


@pytest.mark.parametrize("status", [[], {"code": "paid"}])
async def test_a_webhook_status_that_is_not_a_value_is_quarantined_not_a_server_error(fuzz_api, status):
    payload = {**golden("own_store"), "external_id": f"FUZZ-STATUS-{type(status).__name__}", "status": status}
    response = await signed_own_store_webhook(fuzz_api, payload, f"evt-status-{type(status).__name__}")
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["status"]
