"""comfy-sim renders the captured Wan I2V graph to a real MP4 whose frames carry frame codes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from PIL import Image

from pipeline.standins import framecode
from pipeline.standins.comfy_sim import run_sim
from tests.helpers import png_bytes
from tests.integration.comfy_support import frame_codes, run

pytestmark = pytest.mark.integration

CONTRACT = Path(__file__).parents[1] / "data" / "comfyui_contract"
TIMEOUT = 60.0


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def http(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[aiohttp.ClientSession]:
    async with (
        run_sim("127.0.0.1", 0, tmp_path_factory.mktemp("comfy-sim"), 0.0) as url,
        aiohttp.ClientSession(base_url=url) as session,
    ):
        yield session


def wan_graph() -> dict[str, Any]:
    path = CONTRACT / "http" / "post_prompt_g_wan_i2v_empty_weights.json"
    capture = json.loads(path.read_text())
    graph: dict[str, Any] = capture["request"]["json"]["prompt"]
    return graph


def photo(width: int = 320, height: int = 240) -> Image.Image:
    """A start image without a frame code."""
    return Image.linear_gradient("L").resize((width, height)).convert("RGB")


async def upload(http: aiohttp.ClientSession, name: str, data: bytes) -> None:
    form = aiohttp.FormData()
    form.add_field("image", data, filename=name)
    form.add_field("overwrite", "true")
    async with http.post("/upload/image", data=form) as response:
        assert response.status == 200


async def render(http: aiohttp.ClientSession, graph: dict[str, Any], out: Path) -> Path:
    """Run ``graph`` and download the video its SaveVideo wrote."""
    async with http.post("/prompt", json={"prompt": graph}) as response:
        assert response.status == 200, await response.text()
        prompt_id = (await response.json())["prompt_id"]
    async with asyncio.timeout(TIMEOUT):
        while True:
            async with http.get(f"/history/{prompt_id}") as response:
                history = await response.json()
            if prompt_id in history:
                break
            await asyncio.sleep(0.05)
    entry = history[prompt_id]
    assert entry["status"]["status_str"] == "success", entry["status"]
    (saved,) = entry["outputs"]["12"]["images"]
    async with http.get("/view", params=saved) as response:
        assert response.headers["Content-Type"] == "video/mp4"
        await asyncio.to_thread(out.write_bytes, await response.read())
    return out


async def probe(video: Path) -> dict[str, dict[str, Any]]:
    """Each stream's facts by codec type, with frames counted by decoding."""
    found = json.loads(
        await run(
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_type,codec_name,width,height,r_frame_rate,pix_fmt,nb_read_frames,duration",
            "-of",
            "json",
            str(video),
        )
    )
    return {stream["codec_type"]: stream for stream in found["streams"]}


async def test_wan_i2v_graph_renders_the_requested_video(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    graph = wan_graph()
    start = 1000
    await upload(http, graph["7"]["inputs"]["image"], png_bytes(framecode.stamp(photo(), start)))
    width, height = graph["8"]["inputs"]["width"], graph["8"]["inputs"]["height"]
    length = graph["8"]["inputs"]["length"]

    video = await render(http, graph, tmp_path / "wan.mp4")

    streams = await probe(video)
    assert set(streams) == {"video"}
    stream = streams["video"]
    assert (stream["codec_name"], stream["pix_fmt"]) == ("h264", "yuv420p")
    assert (stream["width"], stream["height"]) == (width, height)
    assert stream["r_frame_rate"] == f"{graph['11']['inputs']['fps']:g}/1"
    assert int(stream["nb_read_frames"]) == length
    assert await frame_codes(video, width, height) == list(range(start, start + length))


async def test_extension_from_the_last_frame_continues_the_numbering(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    graph = wan_graph()
    graph["8"]["inputs"].update(width=256, height=144, length=17)
    await upload(http, "first.png", png_bytes(photo()))
    graph["7"]["inputs"]["image"] = "first.png"
    first = await render(http, graph, tmp_path / "first.mp4")
    last_frame = tmp_path / "last.png"
    await run(
        "ffmpeg",
        "-v",
        "error",
        "-sseof",
        "-0.2",
        "-i",
        str(first),
        "-update",
        "1",
        "-y",
        str(last_frame),
    )

    await upload(http, "last.png", last_frame.read_bytes())
    graph["7"]["inputs"]["image"] = "last.png"
    second = await render(http, graph, tmp_path / "second.mp4")

    assert await frame_codes(first, 256, 144) == list(range(17))
    assert await frame_codes(second, 256, 144) == list(range(16, 33))


async def test_audio_is_muxed_without_changing_the_frame_count(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    graph = wan_graph()
    graph["8"]["inputs"].update(width=128, height=128, length=21)
    graph["11"]["inputs"]["audio"] = ["13", 0]
    graph["13"] = {"class_type": "LoadAudio", "inputs": {"audio": "voice.wav"}}
    await upload(
        http,
        "voice.wav",
        await run(
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3",
            "-f",
            "wav",
            "-",
        ),
    )
    await upload(http, graph["7"]["inputs"]["image"], png_bytes(photo()))

    streams = await probe(await render(http, graph, tmp_path / "voiced.mp4"))

    assert int(streams["video"]["nb_read_frames"]) == 21
    assert streams["audio"]["codec_name"] == "aac"
    assert float(streams["audio"]["duration"]) == pytest.approx(21 / 16, abs=0.05)
