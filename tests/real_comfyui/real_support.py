"""What the real tier's tests share: the skip rule, the stack handle, drops through the CLI
and reads of ComfyUI's queue."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from pipeline.comfy.client import ComfyClient
from pipeline.config import Settings
from pipeline.domain.frames.plan import FramePlan
from pipeline.domain.layout import SessionLayout
from pipeline.media import probe
from pipeline.media.probe import MediaInfo
from pipeline.stack.embedded import settings_env
from pipeline.stack.state import read_process_table
from pipeline.stack.supervisor import Stack
from pipeline.storage import sync_s3
from tests.helpers import eventually, png_bytes
from tests.isolation import ORIGINAL_ENV
from tests.real_comfyui.profile import HEIGHT, MIN_SIDE, PROMPT, WIDTH, with_tokenizer_options
from workflows_comfy.build import SegmentGraphRequest, build_graph
from workflows_comfy.graph import ApiGraph

SKIP_REASON = (
    "needs a ComfyUI checkout (0.33.0 or newer; ComfyUI-GGUF in its custom_nodes for the GGUF "
    "preset): make test-real COMFYUI_DIR=/path/to/ComfyUI [COMFYUI_PYTHON=its python]"
)
TIER = [
    pytest.mark.real_comfyui,
    pytest.mark.slow,
    pytest.mark.skipif(not ORIGINAL_ENV.get("COMFYUI_DIR"), reason=SKIP_REASON),
]
"""Every real-tier module's ``pytestmark``."""

SESSION_LIMIT_S = 900.0
"""The longest one session may take here (a 2-core CPU, three kinds' models swapping)."""


@dataclass
class RealStack:
    settings: Settings
    stack: Stack

    @property
    def comfy_url(self) -> str:
        return self.settings.comfy_url

    def cli(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """``pipeline ARGS`` as a process, against this stack."""
        return subprocess.run(
            [sys.executable, "-m", "pipeline", *args],
            env={**os.environ, **settings_env(self.settings)},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    async def drop(self, media: list[Path], kind: str, *fields: str, wait: bool) -> dict[str, Any]:
        """Drop ``media`` at the profile's size and prompt, the quality gate reporting only;
        ``--wait``: its final status."""
        args = ["drop", *map(str, media), "--kind", kind, "--json", "--set", f"prompt={PROMPT}"]
        # Tiny random weights render noise: the gate measures and records it, never rejects.
        args += ["--set=qc=report"]
        args += [f"--set=width={MIN_SIDE}", f"--set=height={MIN_SIDE}"]
        args += [f"--set={field}" for field in fields]
        if wait:
            args += ["--wait", "--timeout", str(SESSION_LIMIT_S)]
        done = await asyncio.to_thread(self.cli, *args, timeout=SESSION_LIMIT_S + 60)
        assert done.returncode in (0, 1), done.stderr[-3000:]
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    def plan(self, session_id: str) -> FramePlan:
        key = SessionLayout(session_id).plan
        body = sync_s3(self.settings).get_object(Bucket=self.settings.r2_bucket_name, Key=key)
        return FramePlan.model_validate_json(body["Body"].read())

    def combined(self, status: dict[str, Any], dest: Path) -> MediaInfo:
        """The session's stitched video, downloaded to ``dest`` and probed."""
        key = status["result"]["objects"]["combined"]
        sync_s3(self.settings).download_file(self.settings.r2_bucket_name, key, str(dest))
        return probe(dest)

    def pid(self, name: str) -> int:
        """The process group of the stack's process ``name`` (``comfyui``, ``worker-gpu``)."""
        table = read_process_table(self.settings.state_dir)
        assert table is not None
        return table.processes[name].pid

    def restarts(self, name: str) -> int:
        table = read_process_table(self.settings.state_dir)
        assert table is not None
        return table.processes[name].restarts

    async def queue(self) -> tuple[list[str], list[str]]:
        """ComfyUI's ``GET /queue``: the prompt ids running and pending."""
        async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
            body = (await http.get(f"{self.comfy_url}/queue")).json()
        return [item[1] for item in body["queue_running"]], [
            item[1] for item in body["queue_pending"]
        ]

    async def until_running(self, limit_s: float = SESSION_LIMIT_S) -> str:
        """The id of the prompt ComfyUI runs, once one runs."""
        running: list[str] = []

        async def one_runs() -> bool:
            running[:] = (await self.queue())[0]
            return bool(running)

        await eventually(one_runs, limit_s, every_s=0.5)
        return running[0]

    async def status(self, session_id: str) -> dict[str, Any]:
        done = await asyncio.to_thread(self.cli, "status", session_id, "--json")
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    async def ended(self, session_id: str, limit_s: float = SESSION_LIMIT_S) -> dict[str, Any]:
        """The session's status once it is no longer running."""
        final: dict[str, Any] = {}

        async def over() -> bool:
            final.update(await self.status(session_id))
            return final.get("status") != "running"

        await eventually(over, limit_s, every_s=2.0)
        return final

    async def occupy(self, steps: int) -> str:
        """Submit, as another client would, an i2v prompt of ``steps`` sampler steps (each
        a few hundredths of a second here) and return its id: it holds ComfyUI's one
        execution slot until it ends or is interrupted."""
        async with ComfyClient(self.comfy_url) as comfy:
            picture = png_bytes(Image.new("RGB", (WIDTH, HEIGHT), (90, 60, 30)))
            image = await comfy.upload("occupy.png", picture)
            return await comfy.submit(i2v_graph(image, steps=steps, prefix="video/occupy"))


def i2v_graph(image_name: str, *, steps: int | None = None, prefix: str) -> ApiGraph:
    """The ``wan22-i2v-fp8`` graph of one 81-frame segment at the profile's size."""
    request = SegmentGraphRequest(
        image_name=image_name,
        prompt=PROMPT,
        fps=16.0,
        length=81,
        seed=42,
        steps=steps,
        preset="wan22-i2v-fp8",
        filename_prefix=prefix,
        width=WIDTH,
        height=HEIGHT,
    )
    return with_tokenizer_options(build_graph("i2v", request))
