"""``pipeline doctor`` against the embedded services: all green when wired, one FAIL line
with a fix for each thing that is not."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.worker import Worker

from activities.reconcile import ReconcileActivities
from pipeline.config import Settings
from pipeline.doctor import Check, run_checks
from pipeline.doctor.cloudflare import r2_checks
from pipeline.domain.retention import lifecycle_rules
from pipeline.ingest.schedule import RECONCILE_SCHEDULE_ID, apply_reconcile_schedule
from pipeline.stack.embedded import settings_env
from pipeline.stack.process import free_port
from pipeline.stack.seaweedfs import SeaweedPorts
from pipeline.standins.cf_queues_sim import CloudflareQueuesSim
from pipeline.standins.comfy_sim import run_sim
from pipeline.standins.tiny_demucs import ensure_stand_in
from pipeline.storage import ObjectStore, apply_lifecycle
from pipeline.worker.run import Role, run_worker
from pipeline.workflows.reconcile import ReconcileWorkflow
from tests.conftest import TemporalServer
from tests.helpers import eventually
from tests.integration.ingest_support import ingest_env
from workflows_comfy.presets import PRESETS

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def gpu_worker(settings: Settings) -> AsyncIterator[None]:
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(Role.GPU, settings, stop))
    try:
        yield
    finally:
        stop.set()
        await running


def failures(checks: list[Check]) -> dict[str, str]:
    return {check.name: check.line() for check in checks if not check.ok}


async def test_a_wired_deployment_passes_every_check(
    moto_server: str,
    temporal_server: TemporalServer,
    temporal_client: Client,
    comfy_sim_url: str,
    tmp_path: Path,
) -> None:
    # The GPU worker announces what it can separate with: the embedded stack's stand-in.
    separation = ensure_stand_in(tmp_path)
    env = ingest_env(
        moto_server,
        temporal_server,
        temporal_client,
        EVENT_SOURCE="sqs",
        COMFYUI_URL=comfy_sim_url,
        DEMUCS_MODEL_PATH=str(separation) if separation else "",
    )
    settings = env.settings
    async with (
        ObjectStore(settings) as store,
        Worker(
            temporal_client,
            task_queue=settings.temporal_task_queue,
            workflows=[ReconcileWorkflow],
            activities=[ReconcileActivities(store, env.starter).reconcile_inbox],
        ),
        gpu_worker(settings),
    ):
        await apply_reconcile_schedule(temporal_client, settings)
        apply_lifecycle(settings, lifecycle_rules(settings.retention))  # pipeline setup bucket
        try:
            latest: list[Check] = []

            async def healthy() -> bool:
                latest[:] = await run_checks(settings)
                return not failures(latest)

            await eventually(healthy, within_s=30)
        finally:
            await temporal_client.get_schedule_handle(RECONCILE_SCHEDULE_ID).delete()
    assert [check.name for check in latest] == [
        "storage credentials",
        "bucket",
        "presigned links",
        "lifecycle rules",
        "event queue",
        "notification rule",
        "temporal",
        "search attributes",
        "cpu workers",
        "gpu workers",
        *(f"preset {name}" for name in sorted(PRESETS)),
        "vocal separation",
        "reconcile schedule",
        "comfyui",
    ]


async def test_a_preset_no_live_worker_serves_fails_naming_what_the_worker_lacks(
    moto_server: str,
    temporal_server: TemporalServer,
    temporal_client: Client,
    tmp_path: Path,
) -> None:
    lacking = "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"
    async with run_sim("127.0.0.1", 0, tmp_path, hidden_models=frozenset({lacking})) as sim:
        env = ingest_env(moto_server, temporal_server, temporal_client, COMFYUI_URL=sim)
        async with gpu_worker(env.settings):
            latest: list[Check] = []

            async def listed() -> bool:
                latest[:] = await run_checks(env.settings)
                return any(c.name == "gpu workers" and c.ok for c in latest)

            await eventually(listed, within_s=30)

    failed = failures(latest)
    assert "preset wan22-i2v-fp8" in failed
    assert f"lacks model diffusion_models/{lacking}" in failed["preset wan22-i2v-fp8"]
    assert "preset wan22-i2v-gguf" not in failed
    assert "preset infinitetalk-q8" not in failed


async def test_the_cli_names_each_broken_part_with_a_fix_and_exits_non_zero(
    seaweedfs: SeaweedPorts, temporal_server: TemporalServer, temporal_client: Client
) -> None:
    env = ingest_env(
        seaweedfs.s3_endpoint,
        temporal_server,
        temporal_client,
        with_queue=False,
        SEAWEEDFS_FILER=seaweedfs.filer_address,
    )
    environment = {
        **os.environ,
        **settings_env(env.settings),
        "R2_BUCKET_NAME": f"missing-{uuid.uuid4().hex[:8]}",
        "TEMPORAL_TASK_QUEUE": f"nobody-{uuid.uuid4().hex[:8]}",
        "TEMPORAL_GPU_TASK_QUEUE": f"nobody-{uuid.uuid4().hex[:8]}",
        "COMFYUI_URL": f"http://127.0.0.1:{free_port()}",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pipeline",
        "doctor",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    lines = stdout.decode().splitlines()

    assert process.returncode == 1, stderr.decode()[-2000:]
    failed = {line.split()[1] for line in lines if line.startswith("FAIL")}
    assert {"bucket", "comfyui", "reconcile"} <= failed
    assert sum(line.startswith("FAIL  cpu workers") for line in lines) == 1
    assert sum(line.startswith("FAIL  gpu workers") for line in lines) == 1
    assert any(line.startswith("ok    storage credentials") for line in lines)
    assert any(line.startswith("ok    filer stream") for line in lines)
    assert any(line.startswith("ok    temporal ") for line in lines)
    assert all(
        "→" in line for line in lines if line.startswith("FAIL") and "not checked" not in line
    )


async def test_the_r2_path_is_checked_through_the_cloudflare_api(
    seaweedfs: SeaweedPorts, temporal_server: TemporalServer, temporal_client: Client
) -> None:
    sim = CloudflareQueuesSim(account_id="acct", queue_id="q1", api_token="token")
    async with sim.serve() as api_base:
        env = ingest_env(
            seaweedfs.s3_endpoint,
            temporal_server,
            temporal_client,
            with_queue=False,
            EVENT_SOURCE="r2",
            CF_API_BASE_URL=api_base,
            CF_ACCOUNT_ID="acct",
            CF_QUEUE_ID="q1",
            CF_API_TOKEN="token",
        )
        without_rule = await r2_checks(env.settings)
        sim.notification_rules[env.bucket] = [
            {"actions": ["PutObject", "CopyObject"], "prefix": "inbox/", "suffix": "manifest.json"}
        ]
        with_rule = await r2_checks(env.settings)
        bad_token = await r2_checks(
            env.settings.model_copy(update={"cf_api_token": SecretStr("wrong")})
        )

    assert [c.ok for c in without_rule] == [True, False]
    assert "deploy/r2/" in without_rule[1].fix
    assert [c.ok for c in with_rule] == [True, True]
    assert [c.ok for c in bad_token] == [False]
