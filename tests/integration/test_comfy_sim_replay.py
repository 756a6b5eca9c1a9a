"""comfy-sim replays what a real ComfyUI 0.33.0 did with the pipeline's own graphs.

For each transcript in ``pipeline/standins/comfy_sim/contract/transcripts/`` (in the order the
capture ran them, on one server, so each prompt finds the cache the previous one left), the
same graph goes to one comfy-sim, with inputs made here under the graph's names, and its
WebSocket frames and ``/history`` entry must equal the real ones after
``tests.comfy_replay``'s normalisation (timing, ids, file counters and throttled step reports
collapsed; see that module). Any other difference fails, naming the first frame that differs.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from pipeline.standins.comfy_sim import run_sim
from tests.comfy_replay import differences
from tests.helpers import png, wav

pytestmark = pytest.mark.slow

TRANSCRIPTS = Path(str(importlib.resources.files("pipeline.standins.comfy_sim"))) / (
    "contract/transcripts"
)
ORDER = (
    "i2v_seg0",
    "i2v_seg1",
    "s2v_2chunks",
    "infinitetalk_w0",
    "infinitetalk_w1",
    "edge_i2v_length80",
    "edge_it_audio_short",
    "edge_trim_past_end",
)
"""The capture's order (its prompts' queue numbers 0-7)."""
SKIPPED: dict[str, str] = {}
"""Scenarios the sim cannot reproduce, with the reason (none at present)."""
TIMEOUT = 30.0
INPUTS: dict[str, bytes] = {
    "portrait.png": png(96, 64, (200, 150, 120)),
    "i2v_seg0_last.png": png(96, 64, (120, 150, 200)),
    "speech.wav": wav(10.0),
    "short.wav": wav(4.0),
}
"""What the graphs load: ``speech.wav`` outlasts S2V's 157 frames at 16 fps (9.81 s);
``short.wav`` ends 2 s into InfiniteTalk's second window (from 2.88 s), as the capture's did.
``it_w0.mp4`` is the sim's own output of ``infinitetalk_w0``, uploaded before ``_w1``."""


def recorded(name: str) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    graph = json.loads((TRANSCRIPTS / f"{name}.graph.json").read_text())
    lines = (TRANSCRIPTS / f"{name}.ws.jsonl").read_text().splitlines()
    frames = [json.loads(line) for line in lines if line]
    history = json.loads((TRANSCRIPTS / f"{name}.history.json").read_text())
    return graph, frames, history


async def upload(http: aiohttp.ClientSession, name: str, data: bytes) -> None:
    form = aiohttp.FormData()
    form.add_field("image", data, filename=name)
    form.add_field("overwrite", "true")
    async with http.post("/upload/image", data=form) as response:
        assert response.status == 200, await response.text()


async def run_one(
    http: aiohttp.ClientSession, graph: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Submit ``graph`` as a fresh client; its frames up to ``executing`` null, and /history."""
    client_id = uuid.uuid4().hex
    frames: list[dict[str, Any]] = []
    async with http.ws_connect(f"/ws?clientId={client_id}") as ws:
        hello = await ws.receive_json()
        frames.append(hello)
        body = {"prompt": graph, "client_id": client_id}
        async with http.post("/prompt", json=body) as response:
            assert response.status == 200, await response.text()
            prompt_id = (await response.json())["prompt_id"]
        async with asyncio.timeout(TIMEOUT):
            while True:
                message = await ws.receive()
                if message.type == aiohttp.WSMsgType.BINARY:
                    frames.append({"type": "binary", "data": message.data[:4]})
                    continue
                frame = json.loads(message.data)
                frames.append(frame)
                data = frame["data"]
                done = data.get("node") is None and data.get("prompt_id") == prompt_id
                if frame["type"] == "executing" and done:
                    break
    async with http.get(f"/history/{prompt_id}") as response:
        history = (await response.json())[prompt_id]
    return frames, history


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def replayed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    """Every scenario run on one sim, in the capture's order: name → (frames, history)."""
    data_dir = tmp_path_factory.mktemp("replay")
    results: dict[str, Any] = {}
    async with (
        run_sim(port=0, data_dir=data_dir) as base_url,
        aiohttp.ClientSession(base_url) as http,
    ):
        for name, data in INPUTS.items():
            await upload(http, name, data)
        for name in ORDER:
            if name in SKIPPED:
                continue
            if name == "infinitetalk_w1":
                (w0,) = (data_dir / "output" / "video").glob("capture_it_w0_*.mp4")
                shutil.copy(w0, data_dir / "it_w0.mp4")
                await upload(http, "it_w0.mp4", (data_dir / "it_w0.mp4").read_bytes())
            results[name] = await run_one(http, recorded(name)[0])
    yield results


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("name", ORDER)
async def test_sim_replays_the_real_transcript(name: str, replayed: dict[str, Any]) -> None:
    if name in SKIPPED:
        pytest.skip(SKIPPED[name])
    graph, real_frames, real_history = recorded(name)
    sim_frames, sim_history = replayed[name]

    assert differences(real_frames, real_history, sim_frames, sim_history, graph) == []
