"""On a real ComfyUI, the next prompt conditions on exactly the frames the previous one decoded.

Two InfiniteTalk windows and an I2V segment with its extension, each hand-off through the
saved frames (``workflows_comfy.graph.save_handoff`` → ``join_frames`` → ``LoadImage``), and
the same check through the previous segment's MP4 for contrast. Each prompt's frames are
watched with a ``SaveImage`` the test adds (``handoff_support.watch``); the graphs carry the
tier's ``T5TokenizerOptions`` (``tests.real_comfyui.profile``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest_asyncio
from PIL import Image

from pipeline.comfy import ComfyClient
from tests.helpers import png_bytes, wav
from tests.integration.handoff_support import i2v_handoff, infinitetalk_handoff
from tests.real_comfyui.profile import HEIGHT, PROMPT, WIDTH, with_tokenizer_options
from tests.real_comfyui.real_support import TIER, RealStack
from workflows_comfy.i2v import I2VParams
from workflows_comfy.infinitetalk import InfiniteTalkParams

pytestmark = TIER


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def comfy(real_stack: RealStack) -> AsyncIterator[ComfyClient]:
    async with ComfyClient(real_stack.comfy_url, poll_interval=0.5) as client:
        portrait = Image.linear_gradient("L").resize((WIDTH, HEIGHT)).convert("RGB")
        await client.upload("portrait.png", png_bytes(portrait))
        await client.upload("speech.wav", wav(7.0))
        yield client


def window() -> InfiniteTalkParams:
    return InfiniteTalkParams(
        image_name="portrait.png",
        audio_name="speech.wav",
        prompt=PROMPT,
        width=WIDTH,
        height=HEIGHT,
        seed=42,
        steps=2,
        filename_prefix="video/real_handoff_talk",
    )


def segment() -> I2VParams:
    return I2VParams(
        image_name="portrait.png",
        prompt=PROMPT,
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
        comfy, window(), tmp_path / "saved", lossless=True, tweak=with_tokenizer_options
    )
    mp4 = await infinitetalk_handoff(
        comfy, window(), tmp_path / "mp4", lossless=False, tweak=with_tokenizer_options
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
        comfy, segment(), tmp_path / "saved", lossless=True, tweak=with_tokenizer_options
    )
    mp4 = await i2v_handoff(
        comfy, segment(), tmp_path / "mp4", lossless=False, tweak=with_tokenizer_options
    )

    found = {"frames": len(saved.loaded), "saved": saved.max_difference()}
    found["mp4"] = mp4.max_difference()
    record_property("i2v_handoff", found)
    print(f"i2v hand-off: {found}")
    assert found["frames"] == 1
    assert found["saved"] == 0
