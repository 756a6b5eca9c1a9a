"""``deploy/gpu/entrypoint.sh`` outside a container: comfy-sim plays ComfyUI, the worker is real.

The script syncs a models directory from a lockfile served by a local HTTP server, starts
"ComfyUI", waits for it, starts ``pipeline worker gpu``, and supervises both.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.stack.embedded import settings_env
from pipeline.stack.process import free_port
from pipeline.weights.lock import LockedFile, ModelsLock, RepoPin, dump_lock
from tests.conftest import S3Bucket, TemporalServer
from tests.helpers import eventually
from tests.integration.weights_support import FileServer, file_server, sha256

pytestmark = pytest.mark.integration

ENTRYPOINT = Path(__file__).parents[2] / "deploy" / "gpu" / "entrypoint.sh"
LORA = os.urandom(50_000)


@pytest.fixture
def server() -> Iterator[FileServer]:
    with file_server({"/hf/lora.safetensors": LORA}) as running:
        yield running


def write_lock(path: Path, url: str) -> None:
    entry = LockedFile(
        folder="loras",
        name="lora.safetensors",
        size=len(LORA),
        sha256=sha256(LORA),
        urls=[url],
        presets=["wan22-i2v-fp8"],
    )
    pin = RepoPin(name="ComfyUI", repo="https://github.com/comfyanonymous/ComfyUI", commit="0" * 40)
    path.write_text(dump_lock(ModelsLock(comfyui=pin, node_packs=[], files=[entry])))


@pytest.fixture
def environment(
    tmp_path: Path, s3_bucket: S3Bucket, temporal_server: TemporalServer
) -> dict[str, str]:
    port = free_port()
    settings = s3_bucket.settings(
        TEMPORAL_ADDRESS=temporal_server.address,
        TEMPORAL_GPU_TASK_QUEUE=f"gpu-{uuid.uuid4().hex[:8]}",
        PIPELINE_WORK_DIR=str(tmp_path / "work"),
    )
    env = {k: v for k, v in settings_env(settings).items() if k != "COMFYUI_URL"}
    python = sys.executable
    # The entrypoint derives COMFYUI_URL from COMFYUI_PORT only where none is set.
    inherited = {k: v for k, v in os.environ.items() if k != "COMFYUI_URL"}
    return {
        **inherited,
        **env,
        "PATH": f"{Path(python).parent}:{os.environ['PATH']}",
        "MODELS_DIR": str(tmp_path / "models"),
        "MODELS_LOCK": str(tmp_path / "models.lock"),
        "COMFYUI_PORT": str(port),
        "COMFYUI_CMD": f"{python} -m pipeline.standins.comfy_sim --port {port} "
        f"--data-dir {tmp_path / 'comfy'}",
        "WORKER_CMD": f"{python} -m pipeline worker gpu",
        "HEALTH_INTERVAL_S": "0.5",
        "COMFYUI_START_TIMEOUT_S": "60",
        "RUN_DIR": str(tmp_path / "run"),
    }


def start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", str(ENTRYPOINT)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def health(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ENTRYPOINT), "health"], env=env, capture_output=True, text=True, check=False
    )


async def until(
    check: Callable[[], bool], timeout_s: float, process: subprocess.Popen[str]
) -> None:
    """``eventually(check)``, failing at once when the entrypoint exits; its output on failure."""

    def up_and_checked() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the entrypoint exited {process.returncode}:\n{process.communicate()[0]}")
        return check()

    def output() -> str:
        process.kill()
        return process.communicate()[0]

    await eventually(up_and_checked, timeout_s, every_s=0.3, explain=output)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def pids(env: dict[str, str]) -> dict[str, int]:
    run_dir = Path(env["RUN_DIR"])
    return {name: int((run_dir / f"{name}.pid").read_text()) for name in ("comfyui", "worker")}


def live_comfyui_urls(env: dict[str, str]) -> list[str]:
    """The ComfyUI URL of each GPU worker ``pipeline workers`` lists as live."""
    listed = subprocess.run(
        [sys.executable, "-m", "pipeline", "workers", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return [w["record"]["comfyui_url"] for w in json.loads(listed.stdout)]


async def test_models_then_comfyui_then_the_worker_and_a_clean_drain_on_sigterm(
    environment: dict[str, str], server: FileServer, tmp_path: Path
) -> None:
    write_lock(tmp_path / "models.lock", f"{server.base}/hf/lora.safetensors")
    assert health(environment).returncode == 1
    process = start(environment)
    await until(lambda: health(environment).returncode == 0, 90, process)

    assert (tmp_path / "models" / "loras" / "lora.safetensors").read_bytes() == LORA
    expected = [f"http://127.0.0.1:{environment['COMFYUI_PORT']}"]
    await until(lambda: live_comfyui_urls(environment) == expected, 60, process)

    running = pids(environment)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "stopping: worker first" in output
    assert not any(alive(pid) for pid in running.values())


async def test_comfyui_dying_stops_the_worker_and_the_container(
    environment: dict[str, str], server: FileServer, tmp_path: Path
) -> None:
    write_lock(tmp_path / "models.lock", f"{server.base}/hf/lora.safetensors")
    process = start(environment)
    await until(lambda: health(environment).returncode == 0, 90, process)
    running = pids(environment)
    os.kill(running["comfyui"], signal.SIGKILL)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "ComfyUI exited" in output
    assert not alive(running["worker"])


def test_a_failed_model_sync_starts_nothing(
    environment: dict[str, str], server: FileServer, tmp_path: Path
) -> None:
    write_lock(tmp_path / "models.lock", f"{server.base}/gone/lora.safetensors")
    process = start(environment)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "failed     loras/lora.safetensors" in output
    assert "sync of" in output
    assert "not starting" in output
    assert "starting ComfyUI" not in output
