"""What the tests against comfy-sim share: a session's segment request on the store, and the
frame codes read back from a rendered video.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from PIL import Image

from pipeline.domain.contracts import GenerateSegmentInput
from pipeline.domain.frames.plan import FramePlan, plan_i2v
from pipeline.domain.layout import SessionLayout
from pipeline.domain.manifest import Kind, Manifest
from pipeline.standins import framecode
from pipeline.storage import ObjectStore
from tests.helpers import png, wav

SIZE = 128
"""Width and height (pixels) of the segments the comfy-sim tests render."""
I2V_PLAN = plan_i2v(fps=16, segment_length=17, width=SIZE, height=SIZE)
"""One i2v segment of 17 frames at 16 fps."""


async def run(*args: str) -> bytes:
    """The stdout of the command ``args``; fails the test if it exits non-zero."""
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    return stdout


async def frame_codes(video: Path, width: int, height: int) -> list[int | None]:
    """The frame code stamped on each frame of ``video`` (``None`` where none is)."""
    raw = await run(
        "ffmpeg", "-v", "error", "-i", str(video), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"
    )
    size = width * height * 3
    return [
        framecode.read(Image.frombytes("RGB", (width, height), raw[i : i + size]))
        for i in range(0, len(raw), size)
    ]


async def segment_request(store: ObjectStore, kind: Kind, plan: FramePlan) -> GenerateSegmentInput:
    """The first segment of ``plan`` for a new session whose picture (and audio) are stored."""
    session = uuid.uuid4().hex[:12]
    layout = SessionLayout(session)
    image_key = layout.input("face.png")
    await store.put_bytes(image_key, png())
    audio = audio_key = None
    if kind is not Kind.I2V:
        audio, audio_key = "voice.wav", layout.input("voice.wav")
        await store.put_bytes(audio_key, wav(plan.audio_padded_s or 1.0))
    return GenerateSegmentInput(
        session_id=session,
        run="r1",
        segment=plan.segments[0],
        plan=plan,
        manifest=Manifest(kind=kind, image="face.png", width=SIZE, height=SIZE, audio=audio),
        conditioning_key=image_key,
        audio_key=audio_key,
        seed=5,
    )
