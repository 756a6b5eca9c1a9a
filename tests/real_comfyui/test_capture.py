"""``pipeline comfyui capture`` of the tier's real ComfyUI, with the tier's tokenizer options:
every scenario ends as expected, and every file is in the contract's layout and format."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.capture_checks import EXAMPLES, TRANSCRIPTS, check_transcript, invoke
from tests.real_comfyui.real_support import TIER, RealStack

pytestmark = TIER


async def test_capture_of_the_real_comfyui(real_stack: RealStack, tmp_path: Path) -> None:
    args = ("comfyui", "capture", "--url", real_stack.comfy_url, "--out", str(tmp_path))

    code, _, _ = await asyncio.to_thread(
        invoke, *args, "--tokenizer-options", "--examples", str(EXAMPLES)
    )

    report = json.loads((tmp_path / "capture.json").read_text())
    assert code == 0, report["scenarios"]
    assert report["tokenizer_options"] is True
    stats = json.loads((tmp_path / "system_stats.json").read_text())
    assert report["comfyui_version"] == stats["system"]["comfyui_version"]
    assert report["object_info"]["missing"] == []
    for name in TRANSCRIPTS:
        check_transcript(tmp_path, name, tokenizer_options=True)
