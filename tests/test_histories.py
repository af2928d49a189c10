"""Recorded workflow histories (orders, after-sales tickets, channel and stock syncs) replay against the current code (same data converter).
A control-flow change that breaks one of them must use workflow.patched, or the histories are
re-recorded on purpose with `orderhub histories record`."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from workers.histories import HISTORY_PREFIX, recorded, replay
from workers.scenarios import AFTER_SALES_SCENARIOS, CHANNEL_SCENARIOS, SCENARIOS

HISTORIES = Path(__file__).parent / "histories"


def test_every_branch_has_a_recorded_history():
    expected = [f"order_{name}" for name in SCENARIOS] + [
        f"{prefix}{name}" for name in CHANNEL_SCENARIOS for prefix in ("channel_sync_", "stock_sync_")] + [
        f"after_sales_{name}" for name in AFTER_SALES_SCENARIOS] + [
        "order_refund_before_shipping",  # the order's side of the ticket that stopped it
        "parcel_merged_parcel", "order_merged_parcel_second_order"]  # the parcel and its other order
    # One generation: every branch recorded once, against the current code.
    assert sorted(p.stem for p in recorded(HISTORIES)) == sorted(expected)


@pytest.mark.parametrize("path", recorded(HISTORIES), ids=lambda p: p.stem)
async def test_history_replays_deterministically(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    workflow_type = history.events[0].workflow_execution_started_event_attributes.workflow_type.name
    assert path.stem.startswith(HISTORY_PREFIX[workflow_type])
    await replay([path])
