"""A fleet of GPU workers of mixed contents: sessions go to a worker that serves their
preset, wait (never fail) while none does, and complete once one comes up.

Real Temporal dev server, moto, ffmpeg and comfy-sim; the CPU and GPU workers run in this
process exactly as ``pipeline worker cpu|gpu`` runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from bench.fleet import own_files, run_fleet
from pipeline.cli.session_view import session_status
from pipeline.comfy.client import ComfyClient
from pipeline.config import Settings
from pipeline.domain.drop import DropRef
from pipeline.ingest.starter import Starter
from pipeline.stack.signing import with_development_credential
from pipeline.standins.comfy_sim import run_sim
from pipeline.storage import ObjectStore
from pipeline.worker.run import Role, run_worker
from tests.conftest import S3Bucket, TemporalServer
from tests.helpers import eventually, png
from workflows_comfy.preset_file import install_presets_file
from workflows_comfy.servable import missing_by_preset

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def worker(role: Role, settings: Settings) -> AsyncIterator[None]:
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(role, settings, stop))
    try:
        yield
    finally:
        stop.set()
        await running


def fleet(
    bucket: S3Bucket, server: TemporalServer, client: Client, tmp_path: Path, **extra: str
) -> tuple[Settings, Starter]:
    """Settings on queues of this test's own, and a starter for them."""
    run_id = uuid.uuid4().hex[:8]
    settings = bucket.settings(
        PIPELINE_STATE_DIR=str(tmp_path / "state"),
        TEMPORAL_ADDRESS=server.address,
        TEMPORAL_TASK_QUEUE=f"cpu-{run_id}",
        TEMPORAL_GPU_TASK_QUEUE=f"gpu-{run_id}",
        PIPELINE_WORK_DIR=str(tmp_path / "work"),
        GPU_HEALTH_INTERVAL_S="0.5",
        **extra,
    )
    settings = with_development_credential(settings)  # the CPU worker signs the outputs
    starter = Starter(
        client,
        task_queue=settings.temporal_task_queue,
        gpu_task_queue=settings.temporal_gpu_task_queue,
    )
    return settings, starter


async def drop_i2v(settings: Settings, starter: Starter, preset: str) -> str:
    folder = f"inbox/fleet-{uuid.uuid4().hex[:10]}"
    manifest = {"kind": "i2v", "image": "face.png", "preset": preset, "width": 160, "height": 128}
    async with ObjectStore(settings) as store:
        await store.put_bytes(f"{folder}/face.png", png(160, 128, (20, 120, 60)), "image/png")
        key = f"{folder}/manifest.json"
        etag = await store.put_bytes(key, json.dumps(manifest).encode(), "application/json")
    drop = DropRef.of(settings.r2_bucket_name, key, etag)
    await starter.start(drop, source="test")
    return drop.workflow_id


async def test_a_session_waits_for_a_worker_that_serves_its_preset_then_completes(
    s3_bucket: S3Bucket,
    temporal_server: TemporalServer,
    temporal_client: Client,
    tmp_path: Path,
) -> None:
    base, starter = fleet(s3_bucket, temporal_server, temporal_client, tmp_path)
    lacking = own_files("wan22-i2v-fp8")
    async with (
        run_sim("127.0.0.1", 0, tmp_path / "gguf-box", 0.01, hidden_models=lacking) as gguf_box,
        run_sim("127.0.0.1", 0, tmp_path / "full-box", 0.01) as full_box,
        worker(Role.CPU, base),
        worker(Role.GPU, base.model_copy(update={"comfyui_url": gguf_box})),
    ):
        workflow_id = await drop_i2v(base, starter, "wan22-i2v-fp8")

        async def waiting() -> bool:
            status = await session_status(temporal_client, base, workflow_id)
            return "waiting for a worker that serves preset wan22-i2v-fp8" in (status.stage or "")

        await eventually(waiting, within_s=60)
        async with worker(Role.GPU, base.model_copy(update={"comfyui_url": full_box})):
            result = await asyncio.wait_for(
                temporal_client.get_workflow_handle(workflow_id).result(), 120
            )
    assert result["frames"] == 81


async def test_a_comfyui_with_renamed_files_serves_once_the_presets_file_names_them(
    s3_bucket: S3Bucket,
    temporal_server: TemporalServer,
    temporal_client: Client,
    tmp_path: Path,
    restored_presets: None,
) -> None:
    shipped = "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"
    presets_file = tmp_path / "presets.toml"
    presets_file.write_text(
        f'[[preset]]\nname = "wan22-i2v-fp8"\n'
        f'[preset.files]\n"{shipped}" = "studio_high.safetensors"\n'
    )
    base, starter = fleet(
        s3_bucket, temporal_server, temporal_client, tmp_path, PRESETS_FILE=str(presets_file)
    )
    renamed = {shipped: "studio_high.safetensors"}
    async with run_sim("127.0.0.1", 0, tmp_path / "box", 0.01, renamed_models=renamed) as box:
        assert "wan22-i2v-fp8" in missing_by_preset(await object_info_of(box))
        install_presets_file(presets_file)  # as `pipeline worker` does with PRESETS_FILE
        assert "wan22-i2v-fp8" not in missing_by_preset(await object_info_of(box))
        gpu = base.model_copy(update={"comfyui_url": box})
        async with worker(Role.CPU, base), worker(Role.GPU, gpu):
            workflow_id = await drop_i2v(base, starter, "wan22-i2v-fp8")
            result = await asyncio.wait_for(
                temporal_client.get_workflow_handle(workflow_id).result(), 120
            )
    assert result["frames"] == 81


async def object_info_of(url: str) -> dict[str, Any]:
    async with ComfyClient(url) as comfy:
        return await comfy.object_info()


async def test_a_heterogeneous_fleet_completes_every_session_each_on_one_worker() -> None:
    figures = await run_fleet(
        workers=2,
        sessions=4,
        missing={"wan22-i2v-fp8": 1},
        step_delay=0.02,
        extensions=1,
        kill=False,
    )
    assert (figures["completed"], figures["failed"]) == (4, 0)
    assert figures["sticky_hit_rate"] == 1.0


async def test_separation_goes_only_to_workers_that_can_separate() -> None:
    figures = await run_fleet(
        workers=2,
        sessions=1,
        missing={},
        step_delay=0.01,
        extensions=0,
        kill=False,
        audio_sessions=3,
        separating=1,
    )
    assert (figures["audio_completed"], figures["audio_failed"]) == (3, 0)
    assert figures["separated_where_able"] == 1.0
