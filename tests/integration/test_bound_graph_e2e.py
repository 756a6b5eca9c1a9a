"""Sessions through the shipped bring-your-own-graph presets, on the whole embedded stack.

The stack runs with ``PRESETS_FILE`` pointing at ``deploy/presets/examples/presets.toml``,
as an operator would start it; the drops name the example presets. Real Temporal dev
server, SeaweedFS, comfy-sim and the workers as separate ``pipeline`` processes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from pipeline.config import Settings
from pipeline.domain.layout import SessionLayout
from pipeline.media import probe
from pipeline.storage import sync_s3
from tests.integration.stack_support import (
    assert_trimmed_to_the_audio,
    embedded_stack,
    frame_numbers,
    pipeline_cli,
    run_audio_drop,
    sample_image,
)

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parents[2] / "deploy" / "presets" / "examples" / "presets.toml"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    async with embedded_stack(
        tmp_path_factory.mktemp("byog-stack"),
        "byog-sessions",
        PRESETS_FILE=str(EXAMPLES),
    ) as settings:
        yield settings


async def test_an_infinitetalk_session_runs_on_the_example_graph_window_after_window(
    stack: Settings, tmp_path: Path
) -> None:
    status, combined = await run_audio_drop(
        stack, tmp_path, "infinitetalk", 3.5,
        "--set", "separate_vocals=false", "--set", "preset=studio-infinitetalk",
    )  # fmt: skip
    layout = SessionLayout(status["session_id"])
    plan = json.loads(sync_s3(stack).get_object(
        Bucket=stack.r2_bucket_name, Key=layout.plan)["Body"].read())  # fmt: skip
    # Two windows: the first without the previous-window nodes, the second continuing it.
    assert [(s["length"], s["drop_leading"]) for s in plan["segments"]] == [(81, 0), (81, 9)]
    assert {"segment_000", "segment_001"} <= set(status["result"]["objects"])
    # Frame codes run on without a gap or a repeat across the windows' seam.
    assert_trimmed_to_the_audio(status, combined, tmp_path, fps=25, seconds=3.5)


async def test_an_i2v_session_runs_on_the_example_graph_with_the_manifests_values(
    stack: Settings, tmp_path: Path
) -> None:
    image = sample_image(tmp_path / "portrait.png")
    done = await asyncio.to_thread(
        pipeline_cli, stack, "drop", str(image),
        "--set", "preset=studio-i2v", "--set", "width=256", "--set", "height=144",
        "--set", "extensions=1", "--set", "steps=3", "--wait", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    status = json.loads(done.stdout)
    assert status["status"] == "succeeded"
    result = status["result"]
    combined = tmp_path / "combined.mp4"
    sync_s3(stack).download_file(stack.r2_bucket_name, result["objects"]["combined"], str(combined))
    info = probe(combined)
    assert (info.width, info.height) == (256, 144)
    assert info.frame_count == result["frames"] == 81 + 80
    assert frame_numbers(combined, tmp_path / "frames") == list(range(81 + 80))
