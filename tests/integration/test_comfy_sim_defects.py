"""Defect faults (``POST /sim/faults``): the prompt succeeds and its frames come back spoiled.

Each defect is measured on the saved MP4 with ffmpeg's own filters (``blackdetect``,
``signalstats``, ``ssim``) against the same graph run again with no fault queued, which
must come back normal; frame count, fps and audio are the normal run's.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from PIL import Image

from pipeline.comfy import ComfyClient
from pipeline.comfy.client import RunResult
from pipeline.media import probe
from pipeline.standins import framecode
from pipeline.standins.comfy_sim import run_sim
from tests.helpers import png_bytes, wav
from tests.integration.comfy_support import frame_codes
from workflows_comfy.graph import ApiGraph, handoff_node
from workflows_comfy.i2v import I2VParams, build_i2v
from workflows_comfy.infinitetalk import InfiniteTalkParams, build_infinitetalk
from workflows_comfy.s2v import S2VParams, build_s2v

pytestmark = pytest.mark.integration

SIZE = 128
START_CODE = 700
I2V_FRAMES = 17
"""Frames of the i2v segment the tests render (at 16 fps)."""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with run_sim("127.0.0.1", 0, tmp_path_factory.mktemp("comfy-sim"), 0.0) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def comfy(sim: str) -> AsyncIterator[ComfyClient]:
    async with ComfyClient(sim, poll_interval=0.05) as client:
        await client.upload("face.png", png_bytes(face()), overwrite=True)
        await client.upload("voice.wav", wav(4.0), overwrite=True)
        yield client
    async with httpx.AsyncClient() as raw:
        assert (await raw.get(f"{sim}/sim/faults")).json() == {"faults": []}


def face() -> Image.Image:
    """The conditioning picture: a gradient carrying frame code ``START_CODE``."""
    image = Image.linear_gradient("L").resize((SIZE, SIZE)).convert("RGB")
    return framecode.stamp(image, START_CODE)


def i2v() -> ApiGraph:
    return build_i2v(
        I2VParams(
            image_name="face.png",
            prompt="looks around",
            width=SIZE,
            height=SIZE,
            length=I2V_FRAMES,
            seed=3,
            steps=2,
            filename_prefix="video/defect_i2v",
            handoff_frames=1,
        )
    )


def s2v() -> ApiGraph:
    return build_s2v(
        S2VParams(
            image_name="face.png",
            audio_name="voice.wav",
            prompt="sings",
            width=SIZE,
            height=SIZE,
            chunks=1,
            seed=1,
            steps=2,
            filename_prefix="video/defect_s2v",
        )
    )


def infinitetalk() -> ApiGraph:
    return build_infinitetalk(
        InfiniteTalkParams(
            image_name="face.png",
            audio_name="voice.wav",
            prompt="talks",
            width=SIZE,
            height=SIZE,
            seed=2,
            steps=2,
            filename_prefix="video/defect_talk",
            handoff_frames=9,
        )
    )


GRAPHS: dict[str, Callable[[], ApiGraph]] = {
    "i2v": i2v,
    "s2v": s2v,
    "infinitetalk": infinitetalk,
}


async def queue_faults(base_url: str, *faults: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient() as raw:
        return await raw.post(f"{base_url}/sim/faults", json={"faults": list(faults)})


async def ffmpeg(*args: str) -> tuple[str, str]:
    """stdout and stderr of ``ffmpeg -hide_banner -nostats args``; fails the test on an error."""
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg",
        "-hide_banner",
        "-nostats",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    return stdout.decode(), stderr.decode()


async def black_spans(video: Path) -> list[tuple[float, float]]:
    """``blackdetect``'s black runs (start, end in s), any length, ffmpeg's default
    thresholds (``pix_th`` 0.10, ``pic_th`` 0.98)."""
    _, log = await ffmpeg("-i", str(video), "-vf", "blackdetect=d=0", "-an", "-f", "null", "-")
    found = re.findall(r"black_start:([\d.]+) black_end:([\d.]+)", log)
    return [(float(start), float(end)) for start, end in found]


def to_the_end(duration_s: float, fps: float) -> Any:
    """A black run's end at the end of the video, ``duration_s``: ``blackdetect`` may date it
    at the last frame's start (this one does) rather than its end, so either is taken."""
    return pytest.approx(duration_s - 0.5 / fps, abs=0.5 / fps + 1e-6)


async def signalstats(video: Path) -> list[dict[str, float]]:
    """``signalstats`` per frame (``YDIF``, ``UAVG``, ``VAVG``... without the prefix)."""
    out, _ = await ffmpeg(
        "-i", str(video), "-vf", "signalstats,metadata=print:file=-", "-an", "-f", "null", "-"
    )
    frames: list[dict[str, float]] = []
    for line in out.splitlines():
        if line.startswith("frame:"):
            frames.append({})
        elif line.startswith("lavfi.signalstats."):
            name, value = line.removeprefix("lavfi.signalstats.").split("=")
            frames[-1][name] = float(value)
    return frames


async def first_frame_ssim(video: Path, image: Path) -> float:
    """``ssim`` of the luma of ``video``'s first frame against ``image`` (1: the same)."""
    _, log = await ffmpeg(
        "-i",
        str(video),
        "-i",
        str(image),
        "-lavfi",
        "[0:v]trim=end_frame=1,setpts=PTS-STARTPTS,settb=AVTB[a];"
        "[1:v]format=yuv420p,settb=AVTB[b];[a][b]ssim",
        "-f",
        "null",
        "-",
    )
    (found,) = re.findall(r"SSIM Y:([\d.]+)", log)
    return float(found)


async def fetch(comfy: ComfyClient, output: Any) -> bytes:
    return b"".join([chunk async for chunk in comfy.download(output)])


async def saved_video(comfy: ComfyClient, result: RunResult, out: Path) -> Path:
    (video,) = [o for o in result.outputs if o.filename.endswith(".mp4")]
    await asyncio.to_thread(out.write_bytes, await fetch(comfy, video))
    return out


async def handoff_frames(
    comfy: ComfyClient, result: RunResult, graph: ApiGraph
) -> list[Image.Image]:
    """The hand-off PNGs the graph saved for the next prompt, in order."""
    saver = handoff_node(graph)
    pngs = [o for o in result.outputs if o.node_id == saver]
    assert pngs, "the graph saved no hand-off frame"
    frames = []
    for output in pngs:
        with Image.open(io.BytesIO(await fetch(comfy, output))) as image:
            frames.append(image.convert("RGB"))
    return frames


async def render(comfy: ComfyClient, graph: ApiGraph, out: Path) -> tuple[RunResult, Path]:
    result = await comfy.run(graph, timeout=60)
    return result, await saved_video(comfy, result, out)


def same_shape(spoiled: Path, normal: Path) -> None:
    """Frame count, fps and audio length of ``spoiled`` are ``normal``'s."""
    got, want = probe(spoiled), probe(normal)
    assert (got.frame_count, got.fps, got.width, got.height) == (
        want.frame_count,
        want.fps,
        want.width,
        want.height,
    )
    if want.audio_duration_s is None:
        assert got.audio_duration_s is None
    else:
        assert got.audio_duration_s == pytest.approx(want.audio_duration_s, abs=0.01)


@pytest.mark.parametrize("kind", GRAPHS)
async def test_black_blackens_every_frame_and_the_next_prompt_is_normal(
    comfy: ComfyClient, sim: str, tmp_path: Path, kind: str
) -> None:
    graph = GRAPHS[kind]()
    await queue_faults(sim, {"kind": "black"})

    result, spoiled = await render(comfy, graph, tmp_path / "black.mp4")
    normal_result, normal = await render(comfy, graph, tmp_path / "normal.mp4")

    info = probe(spoiled)
    assert info.frame_count is not None
    assert info.fps is not None
    assert await black_spans(spoiled) == [
        (0.0, to_the_end(float(info.frame_count / info.fps), float(info.fps)))
    ]
    assert await black_spans(normal) == []
    same_shape(spoiled, normal)
    if handoff_node(graph) is not None:
        black = ((0, 0), (0, 0), (0, 0))
        spoiled_handoff = await handoff_frames(comfy, result, graph)
        normal_handoff = await handoff_frames(comfy, normal_result, graph)
        assert {frame.getextrema() for frame in spoiled_handoff} == {black}
        assert all(frame.getextrema() != black for frame in normal_handoff)


async def test_black_from_a_frame_leaves_the_frames_before_it(
    comfy: ComfyClient, sim: str, tmp_path: Path
) -> None:
    await queue_faults(sim, {"kind": "black", "frame": 10})

    _, spoiled = await render(comfy, i2v(), tmp_path / "black.mp4")

    assert await black_spans(spoiled) == [(10 / 16, to_the_end(I2V_FRAMES / 16, 16))]
    codes = await frame_codes(spoiled, SIZE, SIZE)
    assert codes == [*range(START_CODE, START_CODE + 10), *[None] * (I2V_FRAMES - 10)]


@pytest.mark.parametrize(
    ("kind", "fault", "frozen_from"),
    [
        ("i2v", {"kind": "freeze"}, I2V_FRAMES // 2),
        ("infinitetalk", {"kind": "freeze", "frame": 30}, 30),
    ],
)
async def test_freeze_repeats_a_frame_to_the_end_and_the_next_prompt_moves(
    comfy: ComfyClient, sim: str, tmp_path: Path, kind: str, fault: dict[str, Any], frozen_from: int
) -> None:
    graph = GRAPHS[kind]()
    await queue_faults(sim, fault)

    result, spoiled = await render(comfy, graph, tmp_path / "frozen.mp4")
    _, normal = await render(comfy, graph, tmp_path / "normal.mp4")

    count = probe(normal).frame_count
    assert count is not None
    codes = await frame_codes(spoiled, SIZE, SIZE)
    frozen = START_CODE + frozen_from
    assert codes == [*range(START_CODE, frozen), *[frozen] * (count - frozen_from)]
    # YDIF: the mean luma change from the frame before (0-255); H.264 may refine a
    # repeated frame by a little, never by what the zoom drift moves a frame.
    changes = [frame["YDIF"] for frame in await signalstats(spoiled)]
    normal_changes = [frame["YDIF"] for frame in await signalstats(normal)]
    assert max(changes[frozen_from + 1 :]) < 0.5
    assert min(changes[1 : frozen_from + 1]) > 1.0
    assert min(normal_changes[1:]) > 1.0
    same_shape(spoiled, normal)
    assert await frame_codes(normal, SIZE, SIZE) == list(range(START_CODE, START_CODE + count))
    # The next prompt would condition on the frozen frame, as on a real ComfyUI.
    handoff = await handoff_frames(comfy, result, graph)
    assert [framecode.read(frame) for frame in handoff] == [frozen] * len(handoff)


async def test_tint_shifts_the_colour_of_every_frame_and_the_next_prompt_is_normal(
    comfy: ComfyClient, sim: str, tmp_path: Path
) -> None:
    await queue_faults(sim, {"kind": "tint"})

    _, spoiled = await render(comfy, i2v(), tmp_path / "tint.mp4")
    _, normal = await render(comfy, i2v(), tmp_path / "normal.mp4")

    tinted, clean = await signalstats(spoiled), await signalstats(normal)
    u_shift = [a["UAVG"] - b["UAVG"] for a, b in zip(tinted, clean, strict=True)]
    v_shift = [a["VAVG"] - b["VAVG"] for a, b in zip(tinted, clean, strict=True)]
    # TINT_RGB (+64 R, -64 B) moves BT.709 chroma by about -35 (U) and +31 (V) where
    # nothing clips; the frame-to-frame change of a clean render is well under 1.
    assert max(u_shift) < -20
    assert min(v_shift) > 20
    clean_u = [frame["UAVG"] for frame in clean]
    assert max(clean_u) - min(clean_u) < 1
    assert await frame_codes(spoiled, SIZE, SIZE) == await frame_codes(normal, SIZE, SIZE)
    same_shape(spoiled, normal)


@pytest.mark.parametrize("kind", ["i2v", "infinitetalk"])
async def test_jump_does_not_continue_the_conditioning_image_and_the_next_prompt_does(
    comfy: ComfyClient, sim: str, tmp_path: Path, kind: str
) -> None:
    graph = GRAPHS[kind]()
    start = tmp_path / "face.png"
    await asyncio.to_thread(start.write_bytes, png_bytes(face()))
    await queue_faults(sim, {"kind": "jump"})

    _, spoiled = await render(comfy, graph, tmp_path / "jump.mp4")
    _, normal = await render(comfy, graph, tmp_path / "normal.mp4")

    assert await first_frame_ssim(normal, start) > 0.95
    assert await first_frame_ssim(spoiled, start) < 0.5
    # Only the pixels jump: the frame codes go on from the conditioning image's.
    assert await frame_codes(spoiled, SIZE, SIZE) == await frame_codes(normal, SIZE, SIZE)
    same_shape(spoiled, normal)


async def test_none_leaves_its_prompt_alone_so_the_fault_after_it_hits_the_next(
    comfy: ComfyClient, sim: str, tmp_path: Path
) -> None:
    assert (await queue_faults(sim, {"kind": "none"}, {"kind": "black"})).json() == {"queued": 2}

    spans = []
    for run in range(3):
        _, video = await render(comfy, i2v(), tmp_path / f"run{run}.mp4")
        spans.append(await black_spans(video))

    assert spans == [[], [(0.0, to_the_end(I2V_FRAMES / 16, 16))], []]


async def test_a_defect_with_a_field_it_does_not_take_is_refused_saying_what_it_takes(
    sim: str,
) -> None:
    refused = {
        "tint": (await queue_faults(sim, {"kind": "tint", "frame": 3})).json(),
        "black_step": (await queue_faults(sim, {"kind": "black", "step": 2})).json(),
        "freeze_negative": (await queue_faults(sim, {"kind": "freeze", "frame": -1})).json(),
        "none": (await queue_faults(sim, {"kind": "none", "node_type": "VAEDecode"})).json(),
    }

    assert refused == {
        "tint": {"error": "unknown fault fields for tint: frame (tint takes kind)"},
        "black_step": {"error": "unknown fault fields for black: step (black takes kind, frame)"},
        "freeze_negative": {"error": "fault frame must be an integer >= 0, got -1"},
        "none": {"error": "unknown fault fields for none: node_type (none takes kind)"},
    }
    async with httpx.AsyncClient() as raw:
        assert (await raw.get(f"{sim}/sim/faults")).json() == {"faults": []}
