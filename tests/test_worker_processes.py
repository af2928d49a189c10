"""`orderhub worker --processes 2` against a real dev server: two worker processes poll the task queue,
SIGTERM to the parent stops both, and a child that dies takes the others down with a non-zero exit."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from orderkit import end_long_running_workflows
from workers import stack

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="finds the children through /proc")

STOP_WITHIN_S = 15


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def poller_pids(client: Client, task_queue: str) -> set[int]:
    """The processes polling the queue for workflow tasks, by their identity (pid@host)."""
    response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    return {int(p.identity.split("@", 1)[0]) for p in response.pollers if p.identity.split("@", 1)[0].isdigit()}


@asynccontextmanager
async def worker_processes(client: Client, db_url: str, sandbox_url: str, log: Path
                           ) -> AsyncIterator[tuple[subprocess.Popen, list[int]]]:
    """`orderhub worker --processes 2` on a queue of its own; yields once both children poll it."""
    queue = f"test-procs-{uuid.uuid4().hex[:8]}"
    env = {"ORDERHUB_TEMPORAL_ADDRESS": client.service_client.config.target_host,
           "ORDERHUB_TEMPORAL_NAMESPACE": client.namespace, "DATABASE_URL": db_url,
           "ORDERHUB_SANDBOX_URL": sandbox_url, "ORDERHUB_TASK_QUEUE": queue, "ORDERHUB_PUSH_STOCK": "false"}
    with log.open("wb") as out:
        parent = stack.spawn([str(stack.BIN / "orderhub"), "worker", "--processes", "2"], env=env,
                             stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            children = children_of(parent.pid)
            if len(children) == 2 and await poller_pids(client, queue) == set(children):
                break
            assert parent.poll() is None, f"exited with {parent.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"children {children}, pollers {await poller_pids(client, queue)}"
            await asyncio.sleep(0.2)
        yield parent, children
    finally:
        stack.stop(parent, timeout_s=30)
        for pid in children_of(parent.pid):
            os.kill(pid, signal.SIGKILL)
        await end_long_running_workflows(client, queue)  # the ChannelSync its start began for the seeded shop


async def stopped(proc: subprocess.Popen, children: list[int]) -> float:
    """Seconds until the parent exited and no child runs; fails after STOP_WITHIN_S."""
    t0 = time.monotonic()
    await asyncio.to_thread(proc.wait, STOP_WITHIN_S)
    while any(running(pid) for pid in children):
        assert time.monotonic() - t0 < STOP_WITHIN_S, [pid for pid in children if running(pid)]
        await asyncio.sleep(0.1)
    return time.monotonic() - t0


async def test_two_processes_poll_the_queue_and_stop_on_sigterm(dev_env, sqlite_url, sandbox_url, tmp_path):
    async with worker_processes(dev_env.client, sqlite_url, sandbox_url, tmp_path / "worker.log") as (parent, kids):
        assert len(set(kids)) == 2 and parent.pid not in kids  # two processes besides the supervisor
        parent.send_signal(signal.SIGTERM)
        took = await stopped(parent, kids)
        log = (tmp_path / "worker.log").read_text()
        assert parent.returncode == 0, log[-3000:]
        assert log.count('"worker stopped"') == 2, log[-3000:]  # each child shut down gracefully
        assert took < STOP_WITHIN_S


async def test_a_child_dying_stops_the_other_and_fails_the_parent(dev_env, sqlite_url, sandbox_url, tmp_path):
    async with worker_processes(dev_env.client, sqlite_url, sandbox_url, tmp_path / "worker.log") as (parent, kids):
        os.kill(kids[0], signal.SIGKILL)
        await stopped(parent, kids)
        log = (tmp_path / "worker.log").read_text()
        assert parent.returncode == 128 + signal.SIGKILL, log[-3000:]
        assert "worker process exited unexpectedly" in log
        assert log.count('"worker stopped"') == 1, log[-3000:]  # the survivor was stopped gracefully
