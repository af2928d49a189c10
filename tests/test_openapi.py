"""The OpenAPI document tells the truth: every operation is called the ways a client gets it wrong
(no token, a role it does not admit, a bad body or parameter, an id that does not exist) and each
answer's status must be declared for that operation, as application/problem+json with the Problem
schema. Operation ids are the route functions' names, unique; FastAPI's HTTPValidationError, which
the API never sends, is declared nowhere."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from api.auth import ROLES, route_roles
from apikit import api_client
from models.config import Settings
from problemkit import code_of, is_problem

MISSING_ID = "zz-missing-1"


@pytest.fixture
async def api(sqlite_url, ts_env):
    # The walk sends unknown tokens on purpose: the throttle must not answer for the routes.
    async with api_client(Settings(database_url=sqlite_url, auth_failure_limit=1_000_000), ts_env.client) as client:
        yield client


def operations(app) -> list[tuple[str, str, Any]]:
    return [(method, route.path_format, route) for route in iter_route_contexts(app.routes)
            if isinstance(route.original_route, APIRoute) and route.include_in_schema
            for method in sorted(route.methods)]


def fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


async def test_every_answer_is_declared_and_a_problem(api):
    spec = (await api.get("/openapi.json")).json()
    seen: dict[str, set[int]] = {}
    for method, path, route in operations(api.app):
        declared = spec["paths"][path][method.lower()]["responses"]
        roles = route_roles(route)
        admitted = {"Authorization": f"Bearer {api.tokens[roles[0]]}"} if roles else {}
        other = next((r for r in ROLES if r not in roles), None) if roles else None
        has_path = "{" in path
        calls: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        if roles:
            calls.append(("no token", {}, {}))
            calls.append(("unknown token", {"Authorization": "Bearer not-a-token"}, {}))
            if other:
                calls.append((f"role {other}", {"Authorization": f"Bearer {api.tokens[other]}"}, {}))
        if route.body_field is not None:
            calls.append(("a bad body", admitted, {"content": b'{"unexpected": [1, 2', "json_ct": True}))
            calls.append(("a wrong body", admitted, {"json": {"no_such_field": True}}))
        if route.dependant.query_params:
            calls.append(("bad query", admitted, {"params": {q.alias: "\x00" * 3 + "-1" for q in route.dependant.query_params}}))
        if has_path:
            calls.append(("a missing id", admitted, {"path": MISSING_ID}))
            calls.append(("a bad id", admitted, {"path": "%20" * 3}))
        for what, headers, how in calls:
            url = fill(path, how.get("path", MISSING_ID))
            kwargs: dict[str, Any] = {"params": how.get("params")}
            if "content" in how:
                kwargs["content"] = how["content"]
                headers = {**headers, "content-type": "application/json"}
            if "json" in how:
                kwargs["json"] = how["json"]
            answer = await api.request(method, url, headers=headers, **kwargs)
            where = f"{method} {url} with {what}: {answer.status_code} {answer.text[:300]}"
            seen.setdefault(route.name, set()).add(answer.status_code)
            assert answer.status_code != 500, where  # a bug, declared or not
            if answer.status_code >= 400:
                assert str(answer.status_code) in declared, f"undeclared: {where}"
                assert is_problem(answer), where
                content = declared[str(answer.status_code)]["content"]
                assert list(content) == ["application/problem+json"], where
                assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
                assert code_of(answer) in content["application/problem+json"]["examples"] \
                    or answer.status_code in (401, 403, 404, 422), f"code not among the examples: {where}"
    # The walk reached the refusals it is about.
    assert 401 in seen["create_order"] and 403 in seen["create_order"] and 422 in seen["create_order"]
    assert 404 in seen["get_order"] and 404 in seen["get_ticket"]


async def test_operation_ids_are_function_names_and_no_framework_422(api):
    spec = (await api.get("/openapi.json")).json()
    ids = [(op["operationId"], path, method) for path, ops in spec["paths"].items() for method, op in ops.items()]
    names = {(path, method.lower()): route.name for method, path, route in operations(api.app)}
    assert [i for i, path, method in ids] == [names[(path, method)] for _, path, method in ids]
    assert len({i for i, _, _ in ids}) == len(ids), "operation ids must be unique"
    assert not {"HTTPValidationError", "ValidationError"} & set(spec["components"]["schemas"])
    assert "HTTPValidationError" not in str(spec)
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            errors = {s: r for s, r in op["responses"].items() if int(s) >= 400}
            assert {"500", "503"} <= set(errors), (method, path)
            for status, response in errors.items():
                examples = response["content"]["application/problem+json"]["examples"]
                assert examples and all(e["value"]["status"] == int(status) for e in examples.values()), (path, status)
    assert {"401", "403", "429", "404", "409", "413", "422"} <= set(spec["paths"]["/v1/orders/{order_id}/cancel"]["post"]["responses"])


async def test_the_frameworks_own_errors_are_problems(api):
    unknown = await api.get("/v1/no-such-path")
    assert unknown.status_code == 404 and is_problem(unknown) and code_of(unknown) == "not_found"
    wrong_method = await api.delete("/v1/orders")
    assert wrong_method.status_code == 405 and is_problem(wrong_method) and code_of(wrong_method) == "method_not_allowed"
    assert wrong_method.headers["allow"] in ("GET", "POST")  # Starlette names the first route of the path
    missing = await api.get("/v1/warehouses")
    assert missing.status_code == 401 and code_of(missing) == "unauthenticated"
    assert missing.headers["www-authenticate"] == "Bearer"
    other = await api.put("/v1/stock/SKU-1", json={"warehouse": "WH-SH", "on_hand": 1},
                          headers={"Authorization": f"Bearer {api.tokens['channel']}"})
    assert other.status_code == 403 and code_of(other) == "forbidden" and is_problem(other)


async def test_a_code_is_explained_without_a_token(api):
    explained = await api.get("/problems/order_not_found")
    assert explained.status_code == 200
    assert explained.json() | {"description": ""} == {"type": "/problems/order_not_found", "code": "order_not_found",
                                                      "title": "Order not found", "status": 404, "description": ""}
    assert "order" in explained.json()["description"].lower()
    unknown = await api.get("/problems/no_such_code")
    assert unknown.status_code == 404 and is_problem(unknown) and code_of(unknown) == "not_found"
