"""A workflow that reads the wall clock: what ORDERHUB_WORKFLOW_SANDBOX=strict exists to catch."""

from datetime import datetime

from temporalio import workflow


@workflow.defn
class ReadsTheClock:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()  # nondeterministic on replay: workflow.now() is the right call
