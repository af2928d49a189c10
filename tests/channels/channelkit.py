"""Helpers for the channel adapter tests (a plain module: `conftest` names clash across test dirs).

Golden payloads live in golden/<channel>_order.json, each shaped like the platform's published
response item. `edited` returns a deep copy with one dotted path changed or removed, so each bad-payload
test states exactly the one thing it breaks.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

GOLDEN_DIR = Path(__file__).parent / "golden"
DELETE = object()
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def golden(channel: str) -> dict[str, Any]:
    return json.loads((GOLDEN_DIR / f"{channel}_order.json").read_text(encoding="utf-8"))


def edited(payload: dict[str, Any], path: str, value: Any = DELETE) -> dict[str, Any]:
    """A copy of `payload` with `path` ("orders.order[1].outer_sku_id") set to `value`, or removed."""
    result = copy.deepcopy(payload)
    steps = [int(index) if index else key for key, index in _STEP.findall(path)]
    node: Any = result
    for step in steps[:-1]:
        node = node[step]
    if value is DELETE:
        del node[steps[-1]]
    else:
        node[steps[-1]] = value
    return result


def with_edits(payload: dict[str, Any], **edits: Any) -> dict[str, Any]:
    """Several top-level keys set at once (None is a value, as platforms send null)."""
    result = copy.deepcopy(payload)
    result.update(edits)
    return result
