"""Every shipped preset through the whole pipeline on a real ComfyUI: drop → combined.mp4,
with the frames, fps and audio duration the plan promised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.stack_support import sample_image, tone
from tests.isolation import ORIGINAL_ENV
from tests.real_comfyui.real_support import TIER, RealStack

pytestmark = TIER

GGUF_PACK = "ComfyUI-GGUF"


@pytest.mark.parametrize(("preset", "extensions"), [("wan22-i2v-fp8", 2), ("wan22-i2v-gguf", 1)])
async def test_an_i2v_preset_renders_its_initial_segment_and_extensions(
    real_stack: RealStack, tmp_path: Path, preset: str, extensions: int
) -> None:
    if preset.endswith("gguf") and not _has_gguf_pack():
        pytest.skip(f"the GGUF preset needs {GGUF_PACK} in COMFYUI_DIR/custom_nodes")
    image = sample_image(tmp_path / "start.png")
    status = await real_stack.drop(
        [image], "i2v", f"preset={preset}", f"extensions={extensions}", wait=True
    )

    assert status["status"] == "succeeded", status
    plan = real_stack.plan(status["session_id"])
    video = real_stack.combined(status, tmp_path / "combined.mp4")
    assert len(plan.segments) == extensions + 1
    assert video.frame_count == plan.final_frames == status["result"]["frames"]
    assert video.fps == plan.fps == 16
    assert (video.width, video.height) == (plan.width, plan.height)
    assert not video.has_audio
    assert_checked(status, len(plan.segments))


@pytest.mark.parametrize(
    ("preset", "kind", "seconds", "parts", "segments"),
    [
        ("wan22-s2v-fp8", "s2v", 6.0, 2, 1),
        ("wan22-s2v-fp8-nolora", "s2v", 6.0, 2, 1),
        # 4 chunks: more than one prompt holds (S2V_CHUNKS_PER_PROMPT), so two segments,
        # the second continuing the first's last 73 frames (ref_motion).
        ("wan22-s2v-fp8", "s2v", 16.0, 4, 2),
        ("infinitetalk-fp8", "infinitetalk", 8.5, 3, 3),
    ],
)
async def test_an_audio_preset_renders_every_window_trimmed_to_the_audio(
    real_stack: RealStack,
    tmp_path: Path,
    preset: str,
    kind: str,
    seconds: float,
    parts: int,
    segments: int,
) -> None:
    image = sample_image(tmp_path / "face.png")
    voice = tone(tmp_path / "voice.wav", seconds)
    status = await real_stack.drop([image, voice], kind, f"preset={preset}", wait=True)

    assert status["status"] == "succeeded", status
    plan = real_stack.plan(status["session_id"])
    video = real_stack.combined(status, tmp_path / "combined.mp4")
    assert plan.windows is not None
    assert plan.windows.count == parts
    assert len(plan.segments) == segments
    assert video.frame_count == plan.final_frames == status["result"]["frames"]
    assert video.fps == plan.fps
    assert video.has_audio
    assert plan.audio_s is not None
    assert abs((video.audio_duration_s or 0) - plan.final_frames / plan.fps) <= 1 / plan.fps
    assert abs((video.audio_duration_s or 0) - plan.audio_s) <= 1 / plan.fps
    assert_checked(status, len(plan.segments))
    # Each prompt decoded exactly its segment's frames (a later S2V one 4 per latent).
    measured = [c["segment"]["frames"] for c in status["result"]["quality"]]
    assert measured == [s.length for s in plan.segments]


def assert_checked(status: dict[str, Any], segments: int) -> None:
    """The quality gate measured every segment once (``qc=report``: none re-rendered), and
    every seam, with figures decoded from the real output."""
    checks = status["result"]["quality"]
    assert [(c["segment"]["index"], c["attempt"]) for c in checks] == [
        (index, 0) for index in range(segments)
    ]
    assert all(c["segment"]["decodable"] for c in checks)
    assert all(c["segment"]["frames"] == c["segment"]["expected_frames"] for c in checks)
    assert all((c["seam"] is None) == (c["segment"]["index"] == 0) for c in checks)


def _has_gguf_pack() -> bool:
    return (Path(ORIGINAL_ENV["COMFYUI_DIR"]) / "custom_nodes" / GGUF_PACK).is_dir()
