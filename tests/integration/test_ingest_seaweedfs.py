"""The seaweedfs source against the session's real SeaweedFS: its filer's metadata stream."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from pipeline.domain.drop import DropRef
from pipeline.ingest.seaweedfs import SeaweedFSSource, cursor_path
from pipeline.ingest.starter import Starter, StartOutcome
from pipeline.stack.seaweedfs import SeaweedPorts
from tests.conftest import TemporalServer
from tests.helpers import eventually
from tests.integration.ingest_support import (
    IngestEnv,
    ingest_env,
    one_workflow,
    put_manifest,
    running,
    session_workflows,
)

pytestmark = pytest.mark.integration


class CountingStarter(Starter):
    """A starter for the env's task queues that records the drops a source hands it."""

    def __init__(self, env: IngestEnv) -> None:
        super().__init__(
            env.client,
            task_queue=env.settings.temporal_task_queue,
            gpu_task_queue=env.settings.temporal_gpu_task_queue,
        )
        self.drops: list[DropRef] = []

    async def start(self, drop: DropRef, *, source: str) -> StartOutcome:
        self.drops.append(drop)
        return await super().start(drop, source=source)


def _env(
    seaweedfs: SeaweedPorts, temporal: TemporalServer, client: Client, state: Path
) -> IngestEnv:
    return ingest_env(
        seaweedfs.s3_endpoint,
        temporal,
        client,
        with_queue=False,
        SEAWEEDFS_FILER=seaweedfs.filer_address,
        PIPELINE_STATE_DIR=str(state),
    )


def _source(env: IngestEnv, starter: CountingStarter, hook_calls: list[int]) -> SeaweedFSSource:
    async def on_stream_start() -> None:
        hook_calls.append(1)

    return SeaweedFSSource(env.settings, starter, on_stream_start=on_stream_start)


async def test_each_manifest_put_starts_one_session_and_nothing_else_does(
    seaweedfs: SeaweedPorts,
    temporal_server: TemporalServer,
    temporal_client: Client,
    tmp_path: Path,
) -> None:
    env = _env(seaweedfs, temporal_server, temporal_client, tmp_path)
    starter, hooks = CountingStarter(env), list[int]()
    async with running(_source(env, starter, hooks)):
        await eventually(lambda: hooks == [1])
        first = put_manifest(env, "first")
        env.s3.put_object(Bucket=env.bucket, Key="inbox/first/face.png", Body=b"png")
        second = put_manifest(env, "nested/second", {"kind": "i2v", "image": "b.png"})
        env.s3.delete_object(Bucket=env.bucket, Key="inbox/first/face.png")
        assert await one_workflow(env.client, first.workflow_id) == 1
        assert await one_workflow(env.client, second.workflow_id) == 1

    assert starter.drops == [first, second]
    assert await session_workflows(env) == 2


async def test_a_restarted_consumer_gets_every_missed_manifest_and_repeats_none(
    seaweedfs: SeaweedPorts,
    temporal_server: TemporalServer,
    temporal_client: Client,
    tmp_path: Path,
) -> None:
    env = _env(seaweedfs, temporal_server, temporal_client, tmp_path)
    before, hooks = CountingStarter(env), list[int]()
    async with running(_source(env, before, hooks)):
        seen = [put_manifest(env, f"before-{n}") for n in range(3)]
        await eventually(lambda: len(before.drops) == 3)
    cursor = cursor_path(env.settings).read_text()

    missed = [put_manifest(env, f"missed-{n}") for n in range(5)]
    after = CountingStarter(env)
    async with running(_source(env, after, hooks)):
        await eventually(lambda: len(after.drops) == 5)
        late = put_manifest(env, "after")
        await eventually(lambda: len(after.drops) == 6)

    assert before.drops == seen
    assert after.drops == [*missed, late]
    assert int(cursor_path(env.settings).read_text()) > int(cursor)
    assert hooks == [1, 1]
    for drop in [*seen, *missed, late]:
        assert await one_workflow(env.client, drop.workflow_id) == 1
