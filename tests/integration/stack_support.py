"""What the tests of the whole embedded stack share: the stack itself on private ports,
comfy-sim's fault queue, the ``pipeline`` CLI as a process, drops of a picture and a tone
through it, and checks of the stitched video.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from pipeline.config import Settings
from pipeline.media import probe
from pipeline.stack.embedded import private_settings, settings_env, stack_config_for
from pipeline.stack.supervisor import Stack
from pipeline.standins import framecode
from pipeline.storage import sync_s3
from tests.helpers import eventually


@contextlib.asynccontextmanager
async def embedded_stack(folder: Path, bucket: str, **overrides: str) -> AsyncIterator[Settings]:
    """The embedded stack as ``pipeline up`` runs it, on free ports, its state in ``folder``
    and its sessions in ``bucket``; ``overrides`` are further environment settings."""
    settings = private_settings(
        folder,
        R2_BUCKET_NAME=bucket,
        R2_ACCESS_KEY_ID="testing",
        R2_SECRET_ACCESS_KEY="testing",
        **overrides,
    )
    embedded = Stack(stack_config_for(settings))
    await embedded.start()
    try:
        yield settings
    finally:
        await embedded.stop()


async def queue_faults(settings: Settings, *faults: dict[str, Any]) -> None:
    """Queue comfy-sim faults (``/sim/faults``): each is taken by the next prompt it matches."""
    async with httpx.AsyncClient(trust_env=False) as http:
        answer = await http.post(f"{settings.comfy_url}/sim/faults", json={"faults": list(faults)})
        answer.raise_for_status()


def pipeline_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env={**os.environ, **settings_env(settings)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def sample_image(path: Path) -> Path:
    Image.new("RGB", (320, 200), (30, 120, 200)).save(path)
    return path


async def finished(client: Client, workflow_id: str) -> WorkflowExecutionStatus:
    async def done() -> bool:
        try:
            status = (await client.get_workflow_handle(workflow_id).describe()).status
        except RPCError:
            return False
        return status is not WorkflowExecutionStatus.RUNNING

    await eventually(done, 120, every_s=0.2)
    status = (await client.get_workflow_handle(workflow_id).describe()).status
    assert status is not None
    return status


def frame_numbers(video: Path, out_dir: Path) -> list[int | None]:
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(video), str(out_dir / "%05d.png")], check=True
    )
    return [framecode.read(Image.open(frame)) for frame in sorted(out_dir.glob("*.png"))]


def tone(path: Path, seconds: float) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"sine=frequency=220:duration={seconds}", "-ac", "2", "-ar", "44100", str(path)],
        check=True,
    )  # fmt: skip
    return path


async def run_audio_drop(
    settings: Settings,
    tmp_path: Path,
    kind: str,
    seconds: float,
    *extra: str,
    audio: Path | None = None,
) -> tuple[dict[str, Any], Path]:
    """Drop a picture and ``audio`` (default: a tone of ``seconds``) and wait for success."""
    image = sample_image(tmp_path / "face.png")
    audio = audio or tone(tmp_path / "voice.wav", seconds)
    done = await asyncio.to_thread(
        pipeline_cli, settings, "drop", str(image), str(audio), "--kind", kind,
        "--set", "width=256", "--set", "height=144", *extra, "--wait", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-1500:]
    status = json.loads(done.stdout)
    combined = tmp_path / "combined.mp4"
    sync_s3(settings).download_file(
        settings.r2_bucket_name, status["result"]["objects"]["combined"], str(combined)
    )
    return status, combined


def assert_trimmed_to_the_audio(
    status: dict[str, Any], combined: Path, tmp_path: Path, *, fps: int, seconds: float
) -> None:
    info = probe(combined)
    frames = round(seconds * fps)
    assert info.fps == fps
    assert info.frame_count == status["result"]["frames"]
    assert abs((info.frame_count or 0) - frames) <= 1
    assert info.has_audio
    assert abs((info.audio_duration_s or 0) - (info.frame_count or 0) / fps) <= 1 / fps
    assert frame_numbers(combined, tmp_path / "frames") == list(range(info.frame_count or 0))
