"""ReconcileDayWorkflow: one day's money, the platforms' bills and the gateway's statement against the hub.

    1. which day      the input's, or the day before the run's start in the reconciliation time zone (the
                      Schedule `reconcile-daily` sends none); a run not named `reconcile-<day>` (the
                      Schedule's runs carry its id and a time) hands the day to the child `reconcile-<day>`,
                      so a day has one workflow id and never runs twice at once
    2. shops          the marketplaces' shops the hub holds credentials for
    3. fetch          every shop's settlement bill and the gateway's statement, in parallel; one that cannot
                      be had is named in the report's errors and its shop left out (not reported missing)
    4. hub            the day's orders and ledger, in one snapshot
    5. compare        models.reconciliation.compare: pure
    6. store          the report replaces the day's earlier one
    7. tell finance   when the day has differences: the counts per kind, through the robot
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.steps import DB_STEP, NOTICE, PARTNER_CALL

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotifierActivities
    from activities.reconciliation import ReconciliationActivities
    from models.notify import Notification
    from models.reconciliation import (
        FINANCE_AUDIENCE,
        FetchBillInput,
        FetchBillResult,
        FetchStatementInput,
        GatewayLine,
        ListShopsInput,
        PlatformSide,
        ReadHubInput,
        ReconcileDayInput,
        ReconcileDayResult,
        StoreReportInput,
        compare,
        counts_by_kind,
        day_window,
        previous_day,
        reconcile_id,
        report_status,
        summarize,
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
        window = day_window(day, input.time_zone)

        # 2. Shops.
        shops = await workflow.execute_local_activity_method(
            ReconciliationActivities.list_shops, ListShopsInput(), **DB_STEP)

        # 3. Bills and the statement, in parallel.
        fetches = [workflow.execute_activity_method(
            ReconciliationActivities.fetch_bill,
            FetchBillInput(channel=name.split("/", 1)[0], shop=name.split("/", 1)[1], day=day), **PARTNER_CALL)
            for name in shops.shops]
        statement = workflow.execute_activity_method(
            ReconciliationActivities.fetch_statement, FetchStatementInput(day=day), **PARTNER_CALL)
        results = await asyncio.gather(statement, *fetches, return_exceptions=True)
        errors: list[str] = []
        platform = PlatformSide()
        for name, result in zip(["gateway", *shops.shops], results, strict=True):
            if isinstance(result, ActivityError):
                errors.append(f"{name}: {result.cause or result}"[:300])
            elif isinstance(result, BaseException):
                raise result
            elif isinstance(result, FetchBillResult):
                platform.shops.append(name)
                platform.bills.extend(result.lines)
            elif isinstance(result, list):
                platform.gateway_fetched = True
                platform.gateway = [GatewayLine.model_validate(line) for line in result]

        # 4. The hub's side of the day.
        hub = await workflow.execute_local_activity_method(
            ReconciliationActivities.read_hub,
            ReadHubInput(window=window, shops=platform.shops,
                         statement_trades=sorted({line.trade_no for line in platform.gateway})), **DB_STEP)

        # 5. Compare.
        differences = compare(hub, platform)
        summary = summarize(hub, platform)
        counts = counts_by_kind(differences)

        # 6. Store: replaces the day's earlier report.
        await workflow.execute_local_activity_method(
            ReconciliationActivities.store_report,
            StoreReportInput(window=window, workflow_id=own_id, summary=summary, differences=differences,
                             errors=errors), **DB_STEP)

        # 7. Tell finance.
        if input.notify and (differences or errors):
            lines = [f"- {kind}: {n}" for kind, n in counts.items()] + [f"- not fetched: {e}" for e in errors]
            await workflow.execute_activity_method(NotifierActivities.notify, Notification(
                key=f"{own_id}-{workflow.info().run_id}", audience=FINANCE_AUDIENCE,
                title=f"Reconciliation {day.isoformat()}: {len(differences)} differences",
                text="\n".join(lines)[:2000], subject={"day": day.isoformat(), "workflow_id": own_id}), **NOTICE)

        return ReconcileDayResult(day=day, status=report_status(differences, errors),
                                  summary=summary, counts=counts, differences=len(differences), errors=errors)
