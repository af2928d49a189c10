"""Recorded OrderWorkflow histories replay against the current code (same data converter).
A control-flow change that breaks one of them must use workflow.patched, or the histories are
re-recorded on purpose with `orderhub histories record`."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from workers.histories import recorded, replay
from workers.scenarios import SCENARIOS

HISTORIES = Path(__file__).parent / "histories"


def test_every_branch_has_a_recorded_history():
    assert sorted(p.stem for p in recorded(HISTORIES)) == sorted(f"order_{name}" for name in SCENARIOS)


@pytest.mark.parametrize("path", recorded(HISTORIES), ids=lambda p: p.stem)
async def test_history_replays_deterministically(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    assert history.events[0].workflow_execution_started_event_attributes.workflow_type.name == "OrderWorkflow"
    await replay([path])
