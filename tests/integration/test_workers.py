"""`pipeline workers`: GPU workers announce what their ComfyUI serves; only live ones list."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.client import Client
from temporalio.exceptions import ActivityError, ApplicationError

from pipeline.config import Settings
from pipeline.domain.contracts import GenerateSegmentInput
from pipeline.domain.manifest import Kind
from pipeline.domain.queues import preset_queue, worker_name, worker_queue
from pipeline.fleet.admission import Admission
from pipeline.fleet.capabilities import Capabilities
from pipeline.fleet.registry import (
    WorkerRecord,
    announce,
    live_workers,
    pollers,
    publish,
    record_key,
)
from pipeline.stack.embedded import settings_env
from pipeline.standins.comfy_sim import run_sim
from pipeline.standins.comfy_sim.object_info import contract_object_info
from pipeline.storage import ObjectStore
from pipeline.worker.run import Role, run_worker
from pipeline.workflows import specs
from tests.conftest import S3Bucket, TemporalServer
from tests.helpers import new_worker
from tests.integration.comfy_support import I2V_PLAN, segment_request
from workflows_comfy.presets import preset_for
from workflows_comfy.servable import servable

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with run_sim("127.0.0.1", 0, tmp_path_factory.mktemp("comfy-sim")) as url:
        yield url


@pytest.fixture
def settings(s3_bucket: S3Bucket, temporal_server: TemporalServer, sim: str) -> Settings:
    return s3_bucket.settings(
        TEMPORAL_ADDRESS=temporal_server.address,
        TEMPORAL_GPU_TASK_QUEUE=f"gpu-{uuid.uuid4().hex[:8]}",
        COMFYUI_URL=sim,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def store(settings: Settings) -> AsyncIterator[ObjectStore]:
    async with ObjectStore(settings) as opened:
        yield opened


def workers_cli(settings: Settings) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "workers", "--json"],
        env={**os.environ, **settings_env(settings)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found: list[dict[str, object]] = json.loads(done.stdout)
    return found


async def test_a_running_gpu_worker_is_listed_with_what_it_serves_until_it_stops(
    settings: Settings, store: ObjectStore, temporal_client: Client
) -> None:
    queue = settings.temporal_gpu_task_queue
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(Role.GPU, settings, stop))
    try:
        async with asyncio.timeout(30):
            while True:  # The record comes first; Temporal sees the poller a moment later.
                found = await live_workers(temporal_client, store, queue)
                if [w.status for w in found] == ["polling"]:
                    break
                await asyncio.sleep(0.2)
        (live,) = found
        assert live.record.serving == servable(contract_object_info())
        assert live.record.comfyui_url == settings.comfy_url
        assert live.record.ready  # from the first record on, not from its first refresh
        # No DEMUCS_MODEL_PATH: the worker says it cannot separate, before any session asks.
        assert live.record.separation.startswith("unavailable: DEMUCS_MODEL_PATH is not set")
        own = worker_queue(queue, worker_name(socket.gethostname(), settings.comfy_url))
        assert live.record.worker_task_queue == own
        assert live.record.polling == sorted(
            preset_queue(queue, name) for names in live.record.serving.values() for name in names
        )
        assert live.record.missing == {}

        (printed,) = await asyncio.to_thread(workers_cli, settings)
        assert printed["record"] == live.record.model_dump(mode="json")
    finally:
        stop.set()
        await worker

    assert await live_workers(temporal_client, store, queue) == []
    assert await store.head(record_key(live.record.identity)) is None


async def test_a_restarted_worker_polls_the_queue_its_sessions_send_their_later_tasks_to(
    settings: Settings, store: ObjectStore, temporal_client: Client
) -> None:
    """A GPU worker killed and started again beside the same ComfyUI is a new Temporal
    identity (``pid@host``) but the same worker: its own queue is the same, so the next
    task of a session it ran is taken at once, not after ``STICKY_SCHEDULE_TO_START_S``."""
    queue = settings.temporal_gpu_task_queue

    async def started() -> tuple[asyncio.subprocess.Process, WorkerRecord]:
        process = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "pipeline", "worker", "gpu"],
            env={**os.environ, **settings_env(settings)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        async with asyncio.timeout(60):
            while True:
                polling = [
                    w.record
                    for w in await live_workers(temporal_client, store, queue)
                    if w.record.identity.startswith(f"{process.pid}@") and w.status == "polling"
                ]
                if polling:
                    return process, polling[0]
                assert process.returncode is None, "the GPU worker exited"
                await asyncio.sleep(0.2)

    first, before = await started()
    first.send_signal(signal.SIGKILL)
    await first.wait()
    second, after = await started()
    try:
        assert after.identity != before.identity
        assert after.worker_task_queue == before.worker_task_queue
        own = after.worker_task_queue
        assert own == worker_queue(queue, worker_name(socket.gethostname(), settings.comfy_url))
        assert f"{second.pid}@" in "".join(await pollers(temporal_client, own))
        # The killed process's record is gone, so it is not listed beside its successor.
        assert await store.head(record_key(before.identity)) is None
        listed = [w.record.identity for w in await live_workers(temporal_client, store, queue)]
        assert listed == [after.identity]
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 60)


@workflow.defn(sandboxed=False)
class AttemptProbe:
    """Runs one GPU segment through its spec; answers how it ended."""

    @workflow.run
    async def run(self, request: GenerateSegmentInput, queue: str) -> str:
        try:
            await specs.execute(
                specs.GENERATE_SEGMENT,
                request,
                gpu_task_queue=queue,
                schedule_to_close=timedelta(minutes=5),
            )
        except ActivityError as failure:
            cause = failure.cause
            return cause.type or "" if isinstance(cause, ApplicationError) else repr(cause)
        return "completed"


async def test_a_restarted_worker_ends_the_attempt_its_killed_predecessor_held_at_once(
    settings: Settings, store: ObjectStore, temporal_client: Client, tmp_path: Path
) -> None:
    """The killed process cannot heartbeat; without its successor the attempt would wait out
    the 30 s heartbeat timeout. The successor fails it as ``worker_restarted`` (a reroute:
    no retry attempt spent), so the session's segment runs again within seconds."""
    queue = settings.temporal_gpu_task_queue
    request = await segment_request(store, Kind.I2V, I2V_PLAN)
    preset_task_queue = preset_queue(queue, preset_for(request.manifest).name)
    async with run_sim("127.0.0.1", 0, tmp_path / "slow-comfy", 2.0) as slow:
        env = {**os.environ, **settings_env(settings), "COMFYUI_URL": slow}

        async def gpu_worker() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                *[sys.executable, "-m", "pipeline", "worker", "gpu"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        async def holding(process: asyncio.subprocess.Process) -> WorkerRecord:
            async with asyncio.timeout(60):
                while True:
                    for worker in await live_workers(temporal_client, store, queue):
                        mine = worker.record.identity.startswith(f"{process.pid}@")
                        if mine and worker.record.held:
                            return worker.record
                    assert process.returncode is None, "the GPU worker exited"
                    await asyncio.sleep(0.1)

        first = await gpu_worker()
        async with new_worker(temporal_client, AttemptProbe) as probe:
            handle = await temporal_client.start_workflow(
                AttemptProbe.run,
                args=[request, preset_task_queue],
                id=f"probe-{uuid.uuid4().hex[:8]}",
                task_queue=probe.task_queue,
            )
            await holding(first)  # the attempt runs on the first process
            first.send_signal(signal.SIGKILL)
            await first.wait()
            killed = time.monotonic()
            second = await gpu_worker()
            try:
                async with asyncio.timeout(25):  # under the 30 s heartbeat timeout
                    ended = await handle.result()
                took_s = time.monotonic() - killed
            finally:
                second.send_signal(signal.SIGTERM)
                await asyncio.wait_for(second.wait(), 60)
    assert ended == "worker_restarted", ended
    assert took_s < 25


async def test_records_without_a_live_worker_behind_them_are_not_listed(
    settings: Settings, store: ObjectStore, temporal_client: Client
) -> None:
    queue = settings.temporal_gpu_task_queue
    now = datetime.now(UTC)

    def record(identity: str, age: timedelta) -> WorkerRecord:
        return WorkerRecord(
            identity=identity,
            task_queue=queue,
            worker_task_queue=worker_queue(queue, identity),
            comfyui_url="http://gpu:8188",
            serving={"i2v": ["wan22-i2v-fp8"]},
            nodes=1,
            started_at=now - age,
            updated_at=now - age,
        )

    await publish(store, record("dead@gpu-1", timedelta(minutes=10)))
    await publish(store, record("busy@gpu-2", timedelta(seconds=5)))
    await publish(
        store,
        record("other-queue@gpu-3", timedelta(0)).model_copy(update={"task_queue": "elsewhere"}),
    )

    found = await live_workers(temporal_client, store, queue)

    assert [(w.record.identity, w.status) for w in found] == [("busy@gpu-2", "busy")]


async def stored_record(
    store: ObjectStore, identity: str, wanted: Callable[[WorkerRecord], bool]
) -> WorkerRecord:
    """The worker's record in the bucket once ``wanted`` holds for it (within 10 s)."""
    async with asyncio.timeout(10):
        while True:
            stored = WorkerRecord.model_validate(await store.get_json(record_key(identity)))
            if wanted(stored):
                return stored
            await asyncio.sleep(0.05)


async def test_the_record_is_refreshed_from_comfyuis_object_info(
    settings: Settings, store: ObjectStore
) -> None:
    identity = f"refresh-{uuid.uuid4().hex[:6]}@test"
    admission = Admission(worker_queue(settings.temporal_gpu_task_queue, identity))
    async with announce(
        store,
        identity=identity,
        task_queue=settings.temporal_gpu_task_queue,
        capabilities=Capabilities(settings.comfy_url, admission, {}),
        refresh_s=0.05,
    ) as first:
        assert first.serving == {}
        assert set(first.missing["wan22-i2v-fp8"].nodes) >= {"UNETLoader", "WanImageToVideo"}
        stored = await stored_record(store, identity, lambda record: bool(record.serving))
    assert stored.serving == servable(contract_object_info())
    assert stored.missing == {}
    assert admission.serving == {name for names in stored.serving.values() for name in names}
    assert stored.updated_at > first.updated_at
    assert await store.head(record_key(identity)) is None


async def test_a_separation_that_became_unavailable_is_in_the_record_at_once(
    settings: Settings, store: ObjectStore
) -> None:
    identity = f"separation-{uuid.uuid4().hex[:6]}@test"
    admission = Admission(worker_queue(settings.temporal_gpu_task_queue, identity))
    await admission.set_separation("demucs: htdemucs.safetensors")
    async with announce(
        store,
        identity=identity,
        task_queue=settings.temporal_gpu_task_queue,
        capabilities=Capabilities(settings.comfy_url, admission, {}),
        refresh_s=3600,
    ) as first:
        assert first.separation == "demucs: htdemucs.safetensors"
        await admission.set_separation("unavailable: cannot load the Demucs model")
        stored = await stored_record(
            store, identity, lambda record: record.separation != first.separation
        )
    assert stored.separation == "unavailable: cannot load the Demucs model"
