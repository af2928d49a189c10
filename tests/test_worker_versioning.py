"""Worker Versioning (docs/versioning.md) against a real dev server: a worker given a deployment name
and a build id is that Worker Deployment Version, and a run it starts is pinned to its build."""

from __future__ import annotations

import asyncio
import uuid

from temporalio import workflow
from temporalio.api.enums.v1 import VersioningBehavior as VersioningBehaviorProto
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.service import RPCError
from temporalio.worker import Worker

from models.config import Settings
from workers.worker import deployment_config


@workflow.defn(name="VersionedPing", sandboxed=False)
class VersionedPing:
    @workflow.run
    async def run(self) -> str:
        return "pong"


def test_a_worker_without_a_build_runs_unversioned():
    assert deployment_config(Settings(worker_deployment="orderhub")) is None
    assert deployment_config(Settings(worker_build_id="abc123")) is None


async def test_a_versioned_worker_pins_the_runs_it_starts_to_its_build(dev_env):
    client = dev_env.client
    settings = Settings(worker_deployment=f"orderhub-{uuid.uuid4().hex[:6]}", worker_build_id="build-1",
                        task_queue=f"versioned-{uuid.uuid4().hex[:8]}")
    config = deployment_config(settings)
    assert config is not None and config.use_worker_versioning
    async with Worker(client, task_queue=settings.task_queue, workflows=[VersionedPing], deployment_config=config):
        # The deploy step: the new build becomes the deployment's current version once it has polled.
        for _ in range(100):
            try:
                await client.workflow_service.set_worker_deployment_current_version(
                    SetWorkerDeploymentCurrentVersionRequest(
                        namespace=client.namespace, deployment_name=settings.worker_deployment,
                        build_id=settings.worker_build_id, identity="test"))
                break
            except RPCError:
                await asyncio.sleep(0.2)
        else:
            raise AssertionError("the build never became the deployment's current version")
        handle = await client.start_workflow(VersionedPing.run, id=f"ping-{uuid.uuid4().hex[:8]}",
                                             task_queue=settings.task_queue)
        assert await handle.result() == "pong"
        info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    assert info.behavior == VersioningBehaviorProto.VERSIONING_BEHAVIOR_PINNED
    assert (info.deployment_version.deployment_name, info.deployment_version.build_id) == (
        settings.worker_deployment, settings.worker_build_id)
