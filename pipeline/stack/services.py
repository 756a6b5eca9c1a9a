"""How to launch the embedded services and how to tell that each is ready.

SeaweedFS, the store, has a module of its own (``pipeline.stack.seaweedfs``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from pipeline.host.binaries import bundled_binary
from pipeline.stack.process import ManagedProcess, free_port

_PROBE_TIMEOUT = timedelta(seconds=2)


def log_dir(state_dir: Path) -> Path:
    return state_dir / "logs"


def temporal_dev_server(
    state_dir: Path, port: int, ui_port: int, search_attributes: Mapping[str, str]
) -> ManagedProcess:
    """The dev server on 127.0.0.1, persisting to ``state_dir/temporal.db``.

    ``search_attributes`` maps names to types (``{"SessionId": "Keyword"}``); the server
    registers them at start, so re-registering on every start is harmless.
    """
    state_dir = state_dir.absolute()  # the server runs inside state_dir
    argv = [
        bundled_binary("temporal", "embedded"), "server", "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(port),
        "--ui-port", str(ui_port),
        "--http-port", str(free_port()),
        "--metrics-port", str(free_port()),
        "--db-filename", str(state_dir / "temporal.db"),
        "--log-level", "warn",
        # One partition per task queue: priority order (fresh drops before reprocessing
        # batches) is exact within a partition, and one machine needs no more.
        "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
        "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
    ]  # fmt: skip
    for name, kind in search_attributes.items():
        argv += ["--search-attribute", f"{name}={kind}"]
    return ManagedProcess("temporal", argv, log_dir=log_dir(state_dir), cwd=state_dir)


def moto_server(state_dir: Path, port: int) -> ManagedProcess:
    """moto's S3 + SQS server, which delivers S3 event notifications to its SQS queues.

    Only the ``sqs`` source's tests and benchmarks run it (moto is a dev dependency): it
    stands in for AWS S3 + SQS there.
    """
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return ManagedProcess("moto", argv, log_dir=log_dir(state_dir), cwd=state_dir)


def comfy_sim(state_dir: Path, port: int) -> ManagedProcess:
    """The fake ComfyUI server, keeping its inputs and outputs under ``state_dir/comfy-sim``."""
    state_dir = state_dir.absolute()  # the server runs inside state_dir
    argv = [
        sys.executable, "-m", "pipeline.standins.comfy_sim",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--data-dir", str(state_dir / "comfy-sim"),
    ]  # fmt: skip
    return ManagedProcess("comfy-sim", argv, log_dir=log_dir(state_dir), cwd=state_dir)


@dataclass(frozen=True)
class ComfyCheckout:
    """A real ComfyUI checkout the stack runs in comfy-sim's place (``COMFYUI_DIR``)."""

    directory: Path
    """Holds ``main.py``."""
    python: Path | str
    """Runs ``main.py``: a path, or a command looked up on PATH."""
    models_dir: Path | None = None
    """``--models-directory``; None keeps the checkout's own ``models/``."""
    cpu: bool = False
    """``--cpu``: for a host without a GPU (``has_gpu``)."""

    @staticmethod
    def python_for(directory: Path) -> Path | str:
        """The checkout's own virtualenv (``venv/`` or ``.venv/``) if it has one, else
        ``python3``, as the GPU image's entrypoint defaults (deploy/gpu/entrypoint.sh)."""
        for venv in ("venv", ".venv"):
            python = directory / venv / "bin" / "python"
            if python.is_file():
                return python
        return "python3"


def has_gpu() -> bool:
    """Whether this host has a device ComfyUI could use instead of ``--cpu``: an NVIDIA
    (``/dev/nvidia0``) or AMD ROCm (``/dev/kfd``) device node, or macOS (Metal)."""
    return sys.platform == "darwin" or any(
        Path(node).exists() for node in ("/dev/nvidia0", "/dev/kfd")
    )


COMFYUI_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1"}
"""Nothing is downloaded at run time: Hugging Face libraries stay offline, and ComfyUI
sends no usage data."""


def comfyui(state_dir: Path, port: int, checkout: ComfyCheckout) -> ManagedProcess:
    """A real ComfyUI on 127.0.0.1:``port``, run from its checkout, with its input, output,
    temp and user folders (its database too) under ``state_dir/comfyui``. Flags as ComfyUI
    0.33.0's ``comfy/cli_args.py`` names them."""
    root = state_dir.absolute() / "comfyui"
    folders = {name: root / name for name in ("input", "output", "temp", "user")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    argv = [
        str(checkout.python), str(checkout.directory.absolute() / "main.py"),
        "--listen", "127.0.0.1",
        "--port", str(port),
        "--disable-auto-launch",
        *(f"--{name}-directory={folder}" for name, folder in folders.items()),
        f"--database-url=sqlite:///{folders['user'] / 'comfyui.db'}",
    ]  # fmt: skip
    if checkout.models_dir is not None:
        argv.append(f"--models-directory={checkout.models_dir.absolute()}")
    if checkout.cpu:
        argv.append("--cpu")
    return ManagedProcess(
        "comfyui",
        argv,
        log_dir=log_dir(state_dir),
        cwd=checkout.directory,
        env={**os.environ, **COMFYUI_OFFLINE_ENV},
    )


async def temporal_ready(address: str) -> bool:
    """The frontend accepts a connection and reports the workflow service healthy."""
    client = await Client.connect(address, connect_timeout=_PROBE_TIMEOUT)
    return await client.service_client.check_health(timeout=_PROBE_TIMEOUT)


async def polled_since(
    address: str,
    namespace: str,
    queues: Sequence[tuple[str, TaskQueueType.ValueType]],
    since: datetime,
) -> bool:
    """Whether a worker polled each ``(task queue, task type)`` at or after ``since``.

    Temporal lists a worker among a queue's pollers for minutes after it died, so only a
    poll that arrived since ``since`` (the worker's start) counts: a worker polls at once
    when it starts, then again as each long poll (up to a minute) ends.
    """
    client = await Client.connect(address, namespace=namespace, connect_timeout=_PROBE_TIMEOUT)
    for name, task_type in queues:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=namespace,
                task_queue=TaskQueue(name=name, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=task_type,
            ),
            timeout=_PROBE_TIMEOUT,
        )
        if not any(p.last_access_time.ToDatetime(tzinfo=UTC) >= since for p in response.pollers):
            return False
    return True


async def http_ready(url: str) -> bool:
    """``GET url`` answers 200. Proxies are ignored: these services are on loopback."""
    async with httpx.AsyncClient(trust_env=False, timeout=2.0) as http:
        response = await http.get(url)
    return response.status_code == httpx.codes.OK
