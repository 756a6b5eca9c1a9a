"""On comfy-sim, the next prompt conditions on exactly the frames the previous one decoded.

An InfiniteTalk window loads the previous window's saved motion frames and an I2V extension
its segment's saved last frame (``workflows_comfy.graph.save_handoff``); the MP4 hand-off
they replace is checked too, so the comparison is seen to fail where frames are re-encoded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from PIL import Image

from pipeline.comfy import ComfyClient
from pipeline.standins import framecode
from pipeline.standins.comfy_sim import run_sim
from tests.helpers import png_bytes, wav
from tests.integration.comfy_support import frame_codes
from tests.integration.handoff_support import i2v_handoff, infinitetalk_handoff
from workflows_comfy.i2v import I2VParams
from workflows_comfy.infinitetalk import InfiniteTalkParams

pytestmark = pytest.mark.integration

SIZE = 128
START_CODE = 300


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def comfy(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ComfyClient]:
    async with (
        run_sim("127.0.0.1", 0, tmp_path_factory.mktemp("comfy-sim"), 0.0) as url,
        ComfyClient(url, poll_interval=0.05) as client,
    ):
        face = Image.linear_gradient("L").resize((SIZE, SIZE)).convert("RGB")
        await client.upload("face.png", png_bytes(framecode.stamp(face, START_CODE)))
        await client.upload("vocals.wav", wav(7.0))
        yield client


def window() -> InfiniteTalkParams:
    return InfiniteTalkParams(
        image_name="face.png",
        audio_name="vocals.wav",
        prompt="talks",
        width=SIZE,
        height=SIZE,
        seed=2,
        steps=2,
        filename_prefix="video/handoff_talk",
    )


def segment() -> I2VParams:
    return I2VParams(
        image_name="face.png",
        prompt="looks around",
        width=SIZE,
        height=SIZE,
        length=17,
        seed=3,
        steps=2,
        filename_prefix="video/handoff_i2v",
    )


async def test_a_window_conditions_on_the_previous_windows_decoded_motion_frames(
    comfy: ComfyClient, tmp_path: Path
) -> None:
    found = await infinitetalk_handoff(comfy, window(), tmp_path, lossless=True)

    assert len(found.loaded) == 9
    assert found.max_difference() == 0
    # The frame plan is the MP4 hand-off's: window 1 re-renders window 0's frames 72..80.
    assert await frame_codes(found.second_video, SIZE, SIZE) == list(
        range(START_CODE + 72, START_CODE + 72 + 81)
    )


async def test_an_extension_conditions_on_the_segments_decoded_last_frame(
    comfy: ComfyClient, tmp_path: Path
) -> None:
    found = await i2v_handoff(comfy, segment(), tmp_path, lossless=True)

    assert len(found.loaded) == 1
    assert found.max_difference() == 0
    assert await frame_codes(found.second_video, SIZE, SIZE) == list(
        range(START_CODE + 16, START_CODE + 16 + 17)
    )


@pytest.mark.parametrize("kind", ["infinitetalk", "i2v"])
async def test_the_mp4_hand_off_does_not_give_back_the_decoded_frames(
    comfy: ComfyClient, tmp_path: Path, kind: str
) -> None:
    if kind == "infinitetalk":
        found = await infinitetalk_handoff(comfy, window(), tmp_path, lossless=False)
    else:
        found = await i2v_handoff(comfy, segment(), tmp_path, lossless=False)

    assert found.max_difference() > 0  # H.264 yuv420p: what the lossless hand-off avoids
