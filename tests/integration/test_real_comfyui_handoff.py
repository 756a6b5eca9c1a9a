"""On a real ComfyUI, the next prompt conditions on exactly the frames the previous one decoded.

Two InfiniteTalk windows and an I2V segment with its extension, each hand-off through the
saved frames (``workflows_comfy.graph.save_handoff`` → ``join_frames`` → ``LoadImage``), and
the same check through today's MP4 for contrast. Each prompt's frames are watched with a
``SaveImage`` the test adds (``handoff_support.watch``).

Run it with a ComfyUI checkout and a models folder of tiny weights
(``pipeline models tiny --dest DIR``)::

    COMFYUI_DIR=/path/to/ComfyUI COMFYUI_PYTHON=/path/to/venv/bin/python \\
    COMFYUI_MODELS_DIR=DIR pytest -m real_comfyui tests/integration/test_real_comfyui_handoff.py

The graphs get the core ``T5TokenizerOptions(min_padding=0, min_length=0)`` after
``CLIPLoader`` so a CPU text encode takes seconds, not minutes (the shipped graphs do not).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from PIL import Image

from pipeline.comfy import ComfyClient
from pipeline.stack.process import free_port
from tests.helpers import png_bytes, wav
from tests.integration.handoff_support import i2v_handoff, infinitetalk_handoff
from workflows_comfy.graph import ApiGraph
from workflows_comfy.i2v import I2VParams
from workflows_comfy.infinitetalk import InfiniteTalkParams

COMFYUI_DIR = os.environ.get("COMFYUI_DIR")
MODELS_DIR = os.environ.get("COMFYUI_MODELS_DIR")

pytestmark = [
    pytest.mark.real_comfyui,
    pytest.mark.skipif(
        not (COMFYUI_DIR and MODELS_DIR),
        reason="needs a real ComfyUI: set COMFYUI_DIR (a checkout), COMFYUI_PYTHON (its "
        "Python) and COMFYUI_MODELS_DIR (tiny weights from 'pipeline models tiny --dest DIR')",
    ),
]

WIDTH, HEIGHT = 96, 64
START_S = 60.0
"""How long ComfyUI may take to answer ``/system_stats`` after it starts."""


@pytest.fixture(scope="module")
def comfyui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ComfyUI of its own (CPU, loopback, its folders under a temporary dir): its URL."""
    assert COMFYUI_DIR
    assert MODELS_DIR
    root = tmp_path_factory.mktemp("comfyui")
    port = free_port()
    folders = {name: root / name for name in ("out", "in", "tmp", "user")}
    for folder in folders.values():
        folder.mkdir()
    arguments = ["--cpu", "--listen", "127.0.0.1", "--port", str(port), "--disable-auto-launch"]
    arguments += ["--models-directory", MODELS_DIR]
    for flag, name in (("output", "out"), ("input", "in"), ("temp", "tmp"), ("user", "user")):
        arguments += [f"--{flag}-directory", str(folders[name])]
    arguments += ["--database-url", f"sqlite:///{folders['user'] / 'comfyui.db'}"]
    with (root / "comfyui.log").open("wb") as log:
        process = subprocess.Popen(
            [os.environ.get("COMFYUI_PYTHON", sys.executable), "main.py", *arguments],
            cwd=COMFYUI_DIR,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
            | {"DO_NOT_TRACK": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(url, process)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_S
    with httpx.Client() as http:
        while True:
            assert process.poll() is None, f"ComfyUI exited with {process.returncode}"
            try:
                if http.get(f"{url}/system_stats").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "ComfyUI did not start"
            time.sleep(0.5)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def comfy(comfyui: str) -> AsyncIterator[ComfyClient]:
    async with ComfyClient(comfyui, poll_interval=0.5, silence_timeout=600.0) as client:
        portrait = Image.linear_gradient("L").resize((WIDTH, HEIGHT)).convert("RGB")
        await client.upload("portrait.png", png_bytes(portrait))
        await client.upload("speech.wav", wav(7.0))
        yield client


def short_prompts(graph: ApiGraph) -> ApiGraph:
    """Put ``T5TokenizerOptions(min_padding=0, min_length=0)`` after ``CLIPLoader``."""
    (loader,) = [key for key, node in graph.items() if node["class_type"] == "CLIPLoader"]
    options = str(max(int(key) for key in graph) + 1)
    graph[options] = {
        "class_type": "T5TokenizerOptions",
        "inputs": {"clip": [loader, 0], "min_padding": 0, "min_length": 0},
    }
    for node in graph.values():
        if node["class_type"] == "CLIPTextEncode" and node["inputs"]["clip"] == [loader, 0]:
            node["inputs"]["clip"] = [options, 0]
    return graph


def window() -> InfiniteTalkParams:
    return InfiniteTalkParams(
        image_name="portrait.png",
        audio_name="speech.wav",
        prompt="a portrait of a person talking to the camera",
        width=WIDTH,
        height=HEIGHT,
        seed=42,
        steps=2,
        filename_prefix="video/real_handoff_talk",
    )


def segment() -> I2VParams:
    return I2VParams(
        image_name="portrait.png",
        prompt="a portrait of a person talking to the camera",
        width=WIDTH,
        height=HEIGHT,
        length=17,
        seed=42,
        steps=2,
        filename_prefix="video/real_handoff_i2v",
    )


async def test_infinitetalk_windows_hand_over_pixel_for_pixel(
    comfy: ComfyClient, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    saved = await infinitetalk_handoff(
        comfy, window(), tmp_path / "saved", lossless=True, tweak=short_prompts
    )
    mp4 = await infinitetalk_handoff(
        comfy, window(), tmp_path / "mp4", lossless=False, tweak=short_prompts
    )

    found = {"frames": len(saved.loaded), "saved": saved.max_difference()}
    found["mp4"] = mp4.max_difference()
    record_property("infinitetalk_handoff", found)
    print(f"infinitetalk hand-off: {found}")
    assert found["frames"] == 9
    assert found["saved"] == 0


async def test_an_i2v_extension_hands_over_pixel_for_pixel(
    comfy: ComfyClient, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    saved = await i2v_handoff(
        comfy, segment(), tmp_path / "saved", lossless=True, tweak=short_prompts
    )
    mp4 = await i2v_handoff(comfy, segment(), tmp_path / "mp4", lossless=False, tweak=short_prompts)

    found = {"frames": len(saved.loaded), "saved": saved.max_difference()}
    found["mp4"] = mp4.max_difference()
    record_property("i2v_handoff", found)
    print(f"i2v hand-off: {found}")
    assert found["frames"] == 1
    assert found["saved"] == 0
