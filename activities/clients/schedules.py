"""The hub's daily Schedules (reconcile-daily, audit-retention): a spec for a time of day in a zone,
and create-or-update that keeps an operator's pause. One place for both."""

from __future__ import annotations

import structlog
from temporalio.client import (
    Client,
    Schedule,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError

log = structlog.get_logger(__name__)


def daily_at(hh_mm: str, time_zone: str, comment: str) -> ScheduleSpec:
    """Every day at `hh_mm` in `time_zone` (the zone's own clock: its daylight saving, if any)."""
    hour, minute = (int(part) for part in hh_mm.split(":"))
    return ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(hour)], minute=[ScheduleRange(minute)],
                                                        comment=comment)],
                        time_zone_name=time_zone)


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> bool:
    """Create the Schedule (True), or bring an existing one's spec, action and policy up to `schedule`
    (False), keeping a pause an operator set; safe to repeat and to race."""
    try:
        await client.create_schedule(schedule_id, schedule)
        return True
    except ScheduleAlreadyRunningError:
        def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=Schedule(action=schedule.action, spec=schedule.spec, policy=schedule.policy,
                                                    state=current.description.schedule.state))

        try:
            await client.get_schedule_handle(schedule_id).update(update)
        except RPCError as err:  # several worker processes starting at once: one of them updated it first
            log.warning("schedule.update_failed", schedule_id=schedule_id, status=err.status.name, message=err.message)
        return False
