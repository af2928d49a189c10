"""One vocabulary per workflow: every query, update and signal a workflow declares is a member of its
message enum (the names every sender uses through the workflow's client), and every member is one of
its handlers. And no file in workflows/ is over 500 lines."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import pytest
from temporalio import workflow

from models.after_sales import AFTER_SALES_WORKFLOW, TicketMessage
from models.channel_sync import CHANNEL_SYNC_WORKFLOW, STOCK_SYNC_WORKFLOW, ChannelSyncMessage, StockSyncMessage
from models.order_workflow import ORDER_WORKFLOW, PARCEL_WORKFLOW, OrderMessage, ParcelMessage
from workflows.after_sales import AfterSalesWorkflow
from workflows.channel_sync import ChannelSyncWorkflow
from workflows.order import OrderWorkflow
from workflows.parcel import ParcelWorkflow
from workflows.stock_sync import StockSyncWorkflow

WORKFLOWS = Path(__file__).parent.parent / "workflows"


@pytest.mark.parametrize(("workflow_class", "name", "messages"), [
    (OrderWorkflow, ORDER_WORKFLOW, OrderMessage),
    (ParcelWorkflow, PARCEL_WORKFLOW, ParcelMessage),
    (AfterSalesWorkflow, AFTER_SALES_WORKFLOW, TicketMessage),
    (ChannelSyncWorkflow, CHANNEL_SYNC_WORKFLOW, ChannelSyncMessage),
    (StockSyncWorkflow, STOCK_SYNC_WORKFLOW, StockSyncMessage),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_a_workflows_handlers_are_its_message_enum(workflow_class: type, name: str, messages: type[StrEnum]):
    definition = workflow._Definition.must_from_class(workflow_class)
    assert definition.name == name
    declared = set(definition.signals) | set(definition.queries) | set(definition.updates)
    assert declared == {m.value for m in messages}


def test_no_workflow_file_is_over_500_lines():
    lengths = {p.name: len(p.read_text().splitlines()) for p in WORKFLOWS.glob("*.py")}
    assert {name: n for name, n in lengths.items() if n > 500} == {}

