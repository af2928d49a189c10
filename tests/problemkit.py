"""Reading the API's error answers (application/problem+json, api/errors.py)."""

from __future__ import annotations

from typing import Any

import httpx

PREFIX = "/problems/"


def code_of(answer: httpx.Response | dict[str, Any]) -> str:
    """The error code of an answer or its body: the part of `type` after /problems/."""
    body = answer.json() if isinstance(answer, httpx.Response) else answer
    kind = body["type"]
    assert kind.startswith(PREFIX), body
    return kind.removeprefix(PREFIX)


def is_problem(answer: httpx.Response) -> bool:
    """The one error shape: the media type, and type, title, status and detail with the answer's status."""
    body = answer.json()
    return answer.headers["content-type"].startswith("application/problem+json") \
        and isinstance(body, dict) and body.get("status") == answer.status_code \
        and str(body.get("type", "")).startswith(PREFIX) \
        and isinstance(body.get("title"), str) and isinstance(body.get("detail"), str)
