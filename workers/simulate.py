"""`orderhub simulate`: the sandbox platforms take orders, delivered the way each platform delivers.

Each order is created at the sandbox platform through its control API. Platforms that push
(Shopify, the own store) send the hub a signed webhook, a share `duplicates` of them more than
once; the others keep the order until the hub's ChannelSync pulls it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from activities.channels import adapter_for
from models.order import CHANNELS


@dataclass
class Simulated:
    channel: str
    created: list[str] = field(default_factory=list)
    failed: int = 0


def simulate(sandbox_url: str, channels: list[str], count: int, *, rate: float | None, duplicates: float,
             skus: list[str], shop: str, console: Console) -> dict[str, Simulated]:
    """Create `count` orders per channel, interleaved, at most `rate` orders per second per channel."""
    results = {c: Simulated(c) for c in channels}
    interval = 1 / rate if rate else 0.0
    next_at = time.monotonic()
    columns = (TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with httpx.Client(base_url=sandbox_url, timeout=30) as http, Progress(*columns, console=console) as progress:
        tasks = {c: progress.add_task(c, total=count) for c in channels}
        for _ in range(count):
            if interval:
                time.sleep(max(0.0, next_at - time.monotonic()))
                next_at += interval
            for channel in channels:
                response = http.post(f"/_sandbox/platforms/{channel}/shops/{shop}/orders",
                                     json={"count": 1, "skus": skus, "duplicates": duplicates})
                if response.status_code == 200:
                    results[channel].created.extend(response.json()["created"])
                else:
                    results[channel].failed += 1
                    console.print(f"[red]{channel}: sandbox answered {response.status_code}: {response.text[:200]}")
                progress.advance(tasks[channel])
    return results


def report(results: dict[str, Simulated], console: Console) -> None:
    table = Table(title="simulated orders")
    for column in ("channel", "created", "failed", "delivered by"):
        table.add_column(column)
    for r in results.values():
        push = adapter_for(r.channel).pushes_webhooks
        table.add_row(r.channel, str(len(r.created)), str(r.failed), "webhook" if push else "next pull")
    console.print(table)


def channels_for(platform: str) -> list[str]:
    if platform == "all":
        return list(CHANNELS)
    if platform not in CHANNELS:
        raise ValueError(f"--platform must be one of {', '.join(CHANNELS)} or all, not {platform!r}")
    return [platform]
