"""ReconcileDayWorkflow: one day's money, the platforms' bills and the gateway's statement against the hub.

    1. which day      the input's, or the day before the run's start in the reconciliation time zone (the
                      Schedule `reconcile-daily` sends none); a run not named `reconcile-<day>` (the
                      Schedule's runs carry its id and a time) hands the day to the child `reconcile-<day>`,
                      so a day has one workflow id and never runs twice at once
    2. reconcile      one activity: every marketplace shop's settlement bill and the gateway's statement,
                      the hub's orders and ledger of the day, compared (models.reconciliation.compare), the
                      report stored in place of the day's earlier one. A day of any size stays out of this
                      history: only the summary and the counts per kind come back. A bill that cannot be had
                      is named in the report's errors and its shop left out (not reported missing)
    3. tell finance   when the day has differences (or a bill was missing): the counts per kind, by the robot
"""

from __future__ import annotations

from temporalio import workflow

from workflows.steps import DAY_BATCH, NOTICE

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotifierActivities
    from activities.reconciliation import ReconciliationActivities
    from models.notify import Notification
    from models.reconciliation import (
        FINANCE_AUDIENCE,
        ReconcileDayInput,
        ReconcileDayRequest,
        ReconcileDayResult,
        day_window,
        previous_day,
        reconcile_id,
    )


@workflow.defn
class ReconcileDayWorkflow:
    @workflow.run
    async def run(self, input: ReconcileDayInput) -> ReconcileDayResult:
        # 1. Which day; one workflow id per day.
        day = input.day or previous_day(workflow.now(), input.time_zone)
        own_id = reconcile_id(day)
        if workflow.info().workflow_id != own_id:
            return await workflow.execute_child_workflow(
                ReconcileDayWorkflow.run, input.model_copy(update={"day": day}), id=own_id)

        # 2. Reconcile: fetch, read, compare, store.
        result = await workflow.execute_activity_method(
            ReconciliationActivities.reconcile_day,
            ReconcileDayRequest(window=day_window(day, input.time_zone), workflow_id=own_id), **DAY_BATCH)

        # 3. Tell finance.
        if input.notify and (result.differences or result.errors):
            lines = [f"- {kind}: {n}" for kind, n in result.counts.items()]
            lines += [f"- not fetched: {error}" for error in result.errors]
            await workflow.execute_activity_method(NotifierActivities.notify, Notification(
                key=f"{own_id}-{workflow.info().run_id}", audience=FINANCE_AUDIENCE,
                title=f"Reconciliation {day.isoformat()}: {result.differences} differences",
                text="\n".join(lines)[:2000], subject={"day": day.isoformat(), "workflow_id": own_id}), **NOTICE)
        return result
