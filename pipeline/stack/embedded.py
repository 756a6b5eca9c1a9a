"""The embedded stack for a given configuration: services on its ports, plus our processes."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from temporalio.api.enums.v1 import TaskQueueType

from pipeline.config import Settings, load_settings
from pipeline.domain.errors import ConfigError
from pipeline.domain.queues import preset_queue
from pipeline.provenance.credentials import load_credential
from pipeline.stack.process import free_port
from pipeline.stack.seaweedfs import parse_filer_address
from pipeline.stack.services import ComfyCheckout, has_gpu, polled_since
from pipeline.stack.signing import signing_env, with_development_credential
from pipeline.stack.supervisor import STOP_TIMEOUT_S, ChildSpec, StackConfig
from pipeline.standins.tiny_demucs import ensure_stand_in
from pipeline.workflows import attributes
from workflows_comfy.presets import PRESETS

EMBEDDED_DRAIN_GRACE_S = STOP_TIMEOUT_S / 2
"""The embedded GPU worker's ``GPU_DRAIN_GRACE_S`` at most. The supervisor SIGKILLs a child
still running ``STOP_TIMEOUT_S`` after ``pipeline down`` asked it to stop, and a segment the
killed worker held would wait out its heartbeat timeout (30 s) after ``pipeline up``; within
the grace the worker cancels the segment (ComfyUI interrupted) and hands it back, so the
next stack's worker starts it at once."""

_WORKFLOW = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
_ACTIVITY = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that make a child process build these same settings."""
    env = {
        "R2_ENDPOINT_URL": settings.s3_endpoint,
        "R2_ACCESS_KEY_ID": settings.r2_access_key_id,
        "R2_SECRET_ACCESS_KEY": settings.r2_secret_access_key.get_secret_value(),
        "R2_BUCKET_NAME": settings.r2_bucket_name,
        "R2_REGION": settings.r2_region,
        "SEAWEEDFS_FILER": settings.seaweedfs_filer,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "TEMPORAL_GPU_TASK_QUEUE": settings.temporal_gpu_task_queue,
        "TEMPORAL_UI_URL": settings.ui_url,
        "COMFYUI_URL": settings.comfy_url,
        "SESSION_DEADLINE_S": str(settings.session_deadline_s),
        "MEDIA_GRACE_S": str(settings.media_grace_s),
        "PIPELINE_WORK_DIR": str(settings.work_dir),
        "PIPELINE_STATE_DIR": str(settings.state_dir),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": settings.log_level,
        "MODELS_LOCK": str(settings.models_lock.absolute()),
        **signing_env(settings),
    }
    if settings.r2_public_url is not None:
        env["R2_PUBLIC_URL"] = str(settings.r2_public_url)
        env["PUBLIC_OUTPUTS"] = settings.public_outputs
    optional = {
        "PRESETS_FILE": settings.presets_file,
        "TEMPORAL_PROFILE": settings.temporal_profile,
        "TEMPORAL_CONFIG_FILE": settings.temporal_config_file,
        "TEMPORAL_TLS_SERVER_NAME": settings.temporal_tls_server_name,
        "TEMPORAL_TLS_CLIENT_CERT_PATH": settings.temporal_tls_client_cert_path,
        "TEMPORAL_TLS_CLIENT_KEY_PATH": settings.temporal_tls_client_key_path,
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": settings.temporal_tls_server_ca_cert_path,
    }
    env |= {name: str(value) for name, value in optional.items() if value is not None}
    if settings.temporal_tls is not None:
        env["TEMPORAL_TLS"] = str(settings.temporal_tls).lower()
    if settings.temporal_api_key is not None:
        env["TEMPORAL_API_KEY"] = settings.temporal_api_key.get_secret_value()
    if settings.demucs_model_path is not None:
        env["DEMUCS_MODEL_PATH"] = str(settings.demucs_model_path)
    if settings.callback_url is not None:
        env["CALLBACK_URL"] = str(settings.callback_url)
    if settings.callback_secret is not None:
        env["CALLBACK_SECRET"] = settings.callback_secret.get_secret_value()
    return env


def _port(url: str) -> int:
    port = urlsplit(url if "://" in url else f"//{url}").port
    if port is None:
        raise ValueError(f"{url} names no port; the embedded stack needs one")
    return port


def cpu_worker_polls(settings: Settings) -> Callable[[datetime], Awaitable[bool]]:
    """Whether the CPU worker polled workflow and activity tasks on its queue since then."""
    queue = settings.temporal_task_queue

    async def ready(since: datetime) -> bool:
        return await polled_since(
            settings.temporal_address,
            settings.temporal_namespace,
            [(queue, _WORKFLOW), (queue, _ACTIVITY)],
            since,
        )

    return ready


def gpu_worker_polls(settings: Settings) -> Callable[[datetime], Awaitable[bool]]:
    """Whether the GPU worker polled the queue of some preset (``gpu.{preset}``) since then,
    which it does once its ComfyUI answers and it knows what that ComfyUI can run."""
    queues = [preset_queue(settings.temporal_gpu_task_queue, name) for name in sorted(PRESETS)]

    async def ready(since: datetime) -> bool:
        for queue in queues:
            if await polled_since(
                settings.temporal_address, settings.temporal_namespace, [(queue, _ACTIVITY)], since
            ):
                return True
        return False

    return ready


def stack_config_for(settings: Settings, *, run_comfy: bool = True) -> StackConfig:
    """Services on the ports the settings name; workers and ingest as child processes.

    With ``run_comfy`` the stack runs the ComfyUI on ``COMFYUI_URL``'s port: the checkout
    ``COMFYUI_DIR`` names (``comfyui_checkout``), else comfy-sim; without, the workers use
    the ComfyUI already there.

    With ``METRICS_PORT`` set, each worker serves ``/metrics`` on a port of its own
    (``metrics_ports``), printed by ``pipeline up``.

    The stack is ready once both workers poll their task queues, so a drop made right
    after ``pipeline up --detach`` finds them. The GPU worker drains for at most
    ``EMBEDDED_DRAIN_GRACE_S`` when the stack stops.

    Without ``DEMUCS_MODEL_PATH`` the GPU worker separates vocals with the stand-in model
    (``pipeline.standins.tiny_demucs``), built under the state dir at first start, so every
    kind runs with default settings; results say so (``stand_ins`` in ``result.json``).

    Without a signing credential the workers sign with the development one
    (``with_development_credential``); a misconfigured one raises ``ConfigError`` here,
    before anything starts.
    """
    settings = with_development_credential(settings)
    load_credential(settings)
    env = settings_env(settings)
    if settings.demucs_model_path is None:
        stand_in = ensure_stand_in(settings.state_dir / "models")
        if stand_in is not None:
            env["DEMUCS_MODEL_PATH"] = str(stand_in)
    metrics = metrics_ports(settings)
    gpu_env = env | {
        "GPU_DRAIN_GRACE_S": str(min(settings.gpu_drain_grace_s, EMBEDDED_DRAIN_GRACE_S)),
        "METRICS_PORT": str(metrics.get("worker-gpu", 0)),
    }
    cpu_env = env | {"METRICS_PORT": str(metrics.get("worker-cpu", 0))}
    ingest_env = env | {"METRICS_PORT": "0"}  # the consumer serves none
    python = [sys.executable, "-m", "pipeline"]
    _host, filer_port, filer_grpc_port = parse_filer_address(settings.seaweedfs_filer)
    return StackConfig(
        state_dir=settings.state_dir,
        temporal_port=_port(settings.temporal_address),
        ui_port=_port(settings.ui_url),
        s3_port=_port(settings.s3_endpoint),
        filer_port=filer_port,
        filer_grpc_port=filer_grpc_port,
        comfy_port=_port(settings.comfy_url) if run_comfy else None,
        comfyui=comfyui_checkout(settings),
        comfyui_ready_timeout=settings.comfyui_start_timeout_s,
        bucket=settings.r2_bucket_name,
        region=settings.r2_region,
        access_key_id=settings.r2_access_key_id,
        secret_access_key=settings.r2_secret_access_key.get_secret_value(),
        search_attributes=attributes.ALL,
        retention=settings.retention,
        metrics_ports=metrics,
        children=[
            ChildSpec(
                "worker-cpu",
                [*python, "worker", "cpu"],
                cpu_env,
                polls=cpu_worker_polls(settings),
            ),
            ChildSpec(
                "worker-gpu", [*python, "worker", "gpu"], gpu_env, polls=gpu_worker_polls(settings)
            ),
            # SeaweedFS plays the bucket, so its filer's metadata stream is the event source.
            ChildSpec(
                "ingest",
                [*python, "ingest", "--source", "seaweedfs", "--apply-schedule"],
                ingest_env,
                restart_with_store=True,
            ),
        ],
    )


def metrics_ports(settings: Settings) -> dict[str, int]:
    """Each embedded worker's own ``/metrics`` port: ``METRICS_PORT`` for the CPU worker
    and the next one for the GPU worker (two processes cannot bind one port); none when
    ``METRICS_PORT`` is 0. ``ConfigError`` when the next port is past 65535."""
    first = settings.metrics_port
    if first == 0:
        return {}
    if first + 1 > 65535:
        raise ConfigError(
            f"METRICS_PORT: the embedded stack serves the CPU worker's metrics on {first} "
            f"and the GPU worker's on {first + 1}, past 65535; choose a lower port"
        )
    return {"worker-cpu": first, "worker-gpu": first + 1}


def comfyui_checkout(settings: Settings) -> ComfyCheckout | None:
    """The real ComfyUI ``COMFYUI_DIR`` names, run on CPU where the host has no GPU."""
    if settings.comfyui_dir is None:
        return None
    return ComfyCheckout(
        directory=settings.comfyui_dir,
        python=settings.comfyui_python or ComfyCheckout.python_for(settings.comfyui_dir),
        models_dir=settings.comfyui_models_dir,
        cpu=not has_gpu(),
    )


def private_settings(state_dir: Path, **overrides: str) -> Settings:
    """Settings for a throwaway embedded stack on free ports (tests, benchmarks), signing
    with the development credential of ``state_dir`` unless the overrides configure one."""
    return with_development_credential(
        load_settings(
            **{
                "R2_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
                "SEAWEEDFS_FILER": f"127.0.0.1:{free_port()}.{free_port()}",
                "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
                "TEMPORAL_UI_URL": f"http://127.0.0.1:{free_port()}",
                "COMFYUI_URL": f"http://127.0.0.1:{free_port()}",
                "PIPELINE_STATE_DIR": str(state_dir),
                "PIPELINE_WORK_DIR": str(state_dir / "work"),
                **overrides,
            }
        )
    )
