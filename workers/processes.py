"""`orderhub worker --processes N`: N worker processes on one host, supervised by this one.

Each child is a plain `orderhub worker` on the same task queue (Temporal's matching service spreads the
queue's tasks over every poller, in this host's processes and in other hosts' alike). The parent only
supervises: it forwards SIGTERM / SIGINT to the children and waits for their graceful shutdown; if a
child exits on its own, it stops the others and exits non-zero, so that the orchestrator (Kubernetes,
systemd) restarts the whole unit instead of leaving it running at a fraction of its capacity.
"""

from __future__ import annotations

import asyncio
import ctypes
import signal
import subprocess
import sys
import time

import structlog

from models.config import Settings
from models.db import dispose_engines, upgrade
from workers import stack

log = structlog.get_logger()

# The worker's own graceful shutdown is 10 s (workers/worker.py); a child still running this long
# after being asked to stop is killed.
STOP_TIMEOUT_S = 25.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def child_command() -> list[str]:
    """One ordinary worker, run by this interpreter (no dependency on where the script was installed)."""
    return stack.python_command("workers.cli", "worker", "--processes", "1")


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if the parent dies without forwarding it (e.g. SIGKILL)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def supervise(n: int, cmd: list[str], *, poll_s: float = 0.2, stop_timeout_s: float = STOP_TIMEOUT_S) -> int:
    """Run `cmd` n times; return 0 after a requested stop, else the exit code of the child that died."""
    children: list[subprocess.Popen] = []
    requested: signal.Signals | None = None

    def stop_all(signum: int) -> None:
        for child in children:
            if child.returncode is None:
                child.send_signal(signum)  # a no-op for a child already reaped

    def forward(signum: int, _frame: object) -> None:
        nonlocal requested
        requested = requested or signal.Signals(signum)
        stop_all(signum)

    previous = {sig: signal.signal(sig, forward) for sig in STOP_SIGNALS}
    failed: int | None = None
    try:
        for _ in range(n):
            if requested:
                break
            children.append(stack.spawn(cmd, preexec_fn=_die_with_parent))
        log.info("worker processes started", pids=[c.pid for c in children])
        while True:
            alive = [c for c in children if c.poll() is None]
            died = next((c for c in children if c.returncode is not None), None)
            if died is not None and requested is None and failed is None:
                # A child killed by a signal reports -N; exit as a shell would (128 + N).
                failed = 128 - died.returncode if died.returncode < 0 else died.returncode or 1
                log.error("worker process exited unexpectedly; stopping the others",
                          pid=died.pid, returncode=died.returncode)
            if requested is not None or failed is not None or not alive:
                stop_all(signal.SIGTERM)  # again: harmless, and reaches a child forked during the signal
                _reap(children, deadline=time.monotonic() + stop_timeout_s, poll_s=poll_s)
                break
            time.sleep(poll_s)
    finally:
        for child in children:  # an exception in here (there should be none): leave nothing behind
            if child.poll() is None:
                child.kill()
                child.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("worker processes stopped", returncodes=[c.returncode for c in children],
             requested=requested.name if requested else None)
    return failed or 0


def _reap(children: list[subprocess.Popen], *, deadline: float, poll_s: float) -> None:
    while any(c.poll() is None for c in children) and time.monotonic() < deadline:
        time.sleep(poll_s)
    for child in children:
        if child.poll() is None:
            log.warning("worker process did not stop in time; killed", pid=child.pid)
            child.kill()
            child.wait()


def run_processes(settings: Settings, n: int) -> int:
    """Migrate once (children starting together would race on a fresh SQLite file; PostgreSQL takes an
    advisory lock anyway), then supervise n workers."""

    async def migrate() -> None:
        await upgrade(settings.db_url)
        await dispose_engines()

    structlog.contextvars.bind_contextvars(process="worker-supervisor")
    asyncio.run(migrate())
    return supervise(n, child_command())
