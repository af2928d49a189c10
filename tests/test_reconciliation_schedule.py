"""The Schedule `reconcile-daily` on a real Temporal dev server: created when missing, brought up to the settings
when it exists (a second start changes nothing, a new time is taken), 03:00 Asia/Shanghai by default, starting
ReconcileDayWorkflow with no day (the workflow reconciles the day before)."""

from __future__ import annotations

import uuid

from temporalio.client import ScheduleActionStartWorkflow

from activities.clients.reconciliation import ensure_reconcile_schedule
from models.config import Settings
from models.reconciliation import RECONCILE_SCHEDULE_ID, RECONCILE_WORKFLOW, ReconcileDayInput


async def test_the_daily_schedule_is_created_once_and_follows_the_settings(dev_env):
    client = dev_env.client
    settings = Settings(task_queue=f"recon-{uuid.uuid4().hex[:8]}")
    assert (settings.reconcile_time, settings.reconcile_time_zone) == ("03:00", "Asia/Shanghai")
    handle = client.get_schedule_handle(RECONCILE_SCHEDULE_ID)
    try:
        await ensure_reconcile_schedule(client, settings)
        await ensure_reconcile_schedule(client, settings)  # a second worker start: no error, one schedule
        listed = [s async for s in await client.list_schedules() if s.id == RECONCILE_SCHEDULE_ID]
        assert len(listed) == 1
        described = await handle.describe()
        spec = described.schedule.spec
        assert spec.time_zone_name == "Asia/Shanghai"
        [calendar] = spec.calendars
        assert [(r.start, r.end) for r in calendar.hour] == [(3, 3)]
        assert [(r.start, r.end) for r in calendar.minute] == [(0, 0)]
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == RECONCILE_WORKFLOW and action.task_queue == settings.task_queue
        [arg] = await client.data_converter.decode(action.args, [ReconcileDayInput])
        assert arg.day is None and arg.time_zone == "Asia/Shanghai"  # the workflow takes the day before
        assert described.info.next_action_times  # it is scheduled

        await handle.pause(note="operator")
        later = Settings(task_queue=settings.task_queue, reconcile_time="04:30")
        await ensure_reconcile_schedule(client, later)
        described = await handle.describe()
        [calendar] = described.schedule.spec.calendars
        assert ([r.start for r in calendar.hour], [r.start for r in calendar.minute]) == ([4], [30])
        assert described.schedule.state.paused  # the operator's pause is kept
    finally:
        await handle.delete()
