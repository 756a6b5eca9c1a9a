"""comfy-sim runs the S2V and InfiniteTalk graphs: the real frame counts, codes and audio."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path

import pytest
import pytest_asyncio
from PIL import Image

from pipeline.comfy import ComfyClient, OutputFile, Progress
from pipeline.media import probe
from pipeline.standins import framecode
from pipeline.standins.comfy_sim import run_sim
from pipeline.standins.comfy_sim.node_api import NodeContext
from pipeline.standins.comfy_sim.paths import DataDirs
from pipeline.standins.comfy_sim.sound_nodes import load_audio
from tests.helpers import png_bytes, wav
from tests.integration.comfy_support import frame_codes
from workflows_comfy.infinitetalk import InfiniteTalkParams, build_infinitetalk
from workflows_comfy.s2v import S2VParams, build_s2v

pytestmark = pytest.mark.integration

SIZE = 128
START_CODE = 500


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def comfy(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ComfyClient]:
    async with (
        run_sim("127.0.0.1", 0, tmp_path_factory.mktemp("comfy-sim"), 0.0) as url,
        ComfyClient(url, poll_interval=0.05) as client,
    ):
        await client.upload("face.png", stamped_face())
        yield client


def stamped_face() -> bytes:
    image = Image.linear_gradient("L").resize((SIZE, SIZE)).convert("RGB")
    return png_bytes(framecode.stamp(image, START_CODE))


async def download(comfy: ComfyClient, output: OutputFile, out: Path) -> Path:
    data = b"".join([chunk async for chunk in comfy.download(output)])
    await asyncio.to_thread(out.write_bytes, data)
    return out


async def test_s2v_renders_every_chunk_with_the_audio(comfy: ComfyClient, tmp_path: Path) -> None:
    audio = await comfy.upload("song.wav", wav(10.0))
    params = S2VParams(
        image_name="face.png",
        audio_name=audio,
        prompt="sings",
        width=SIZE,
        height=SIZE,
        chunks=2,
        seed=1,
        steps=2,
        filename_prefix="video/s2v_test",
    )

    (output,) = (await comfy.run(build_s2v(params), timeout=60)).outputs
    video = await download(comfy, output, tmp_path / "s2v.mp4")

    info = probe(video)
    assert params.output_frames == 157
    assert (info.frame_count, info.fps) == (157, Fraction(16))
    assert info.audio_duration_s == pytest.approx(157 / 16, abs=0.05)
    assert await frame_codes(video, SIZE, SIZE) == list(range(START_CODE, START_CODE + 157))


async def test_infinitetalk_windows_continue_each_others_frame_codes(
    comfy: ComfyClient, tmp_path: Path
) -> None:
    audio = await comfy.upload("vocals.wav", wav(9.0))
    first = InfiniteTalkParams(
        image_name="face.png",
        audio_name=audio,
        prompt="talks",
        width=SIZE,
        height=SIZE,
        seed=2,
        steps=2,
        filename_prefix="video/talk_test",
    )
    seen: list[Progress] = []

    async def record(progress: Progress) -> None:
        seen.append(progress)

    codes: list[list[int | None]] = []
    previous: str | None = None
    for window, start in enumerate((0, 72, 144)):
        params = dataclasses.replace(first, start_frame=start, previous_video_name=previous)
        result = await comfy.run(build_infinitetalk(params), on_progress=record, timeout=60)
        (output,) = result.outputs
        path = await download(comfy, output, tmp_path / f"window_{window}.mp4")
        info = probe(path)
        assert (info.frame_count, info.fps) == (81, Fraction(25))
        codes.append(await frame_codes(path, SIZE, SIZE))
        previous = await comfy.upload(f"window_{window}.mp4", path.read_bytes())

    # Each window starts by re-rendering the previous window's last 9 frames.
    assert codes == [list(range(START_CODE + s, START_CODE + s + 81)) for s in (0, 72, 144)]
    sampling = [p.value for p in seen if p.class_type == "SamplerCustomAdvanced" and p.max > 1]
    assert sampling == [1, 2] * 3


async def test_an_infinitetalk_window_past_the_end_of_the_audio_runs_with_its_audio_unpadded(
    comfy: ComfyClient, tmp_path: Path
) -> None:
    # ComfyUI 0.33.0 (edge_it_audio_short): the last audio feature repeats, and SaveVideo
    # muxes the audio there is without padding it to the video.
    audio = await comfy.upload("short.wav", wav(2.0))
    params = InfiniteTalkParams(
        image_name="face.png", audio_name=audio, prompt="", width=SIZE, height=SIZE, seed=1
    )
    (output,) = (await comfy.run(build_infinitetalk(params), timeout=60)).outputs
    info = probe(await download(comfy, output, tmp_path / "short.mp4"))

    assert (info.frame_count, info.fps) == (81, Fraction(25))
    assert info.audio_duration_s == pytest.approx(2.0, abs=0.05)


async def test_load_audio_reports_the_files_real_length(tmp_path: Path) -> None:
    dirs = DataDirs.create(tmp_path)
    await asyncio.to_thread((dirs.input / "clip.wav").write_bytes, wav(2.5))

    async def report(value: int, total: int, preview: Image.Image | None) -> None:
        return None

    context = NodeContext("1", "LoadAudio", ("AUDIO",), dirs, 0.0, report, {})
    (audio,) = (await load_audio(context, {"audio": "clip.wav"})).outputs

    assert audio.duration_s == pytest.approx(2.5, abs=0.01)
