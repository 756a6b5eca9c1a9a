"""What a real ComfyUI answers to a graph it rejects, a graph that fails while it runs, and
the same graph submitted twice, as ``ComfyClient`` classifies them."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pipeline.comfy.client import ComfyClient
from pipeline.domain.errors import GraphError, NodeInputRejected
from tests.helpers import png_bytes
from tests.integration.stack_support import tone
from tests.real_comfyui.real_support import TIER, RealStack, i2v_graph

pytestmark = TIER

RUN_S = 300.0


async def test_a_graph_naming_a_model_comfyui_lacks_is_rejected_not_retried(
    real_stack: RealStack,
) -> None:
    async with ComfyClient(real_stack.comfy_url) as comfy:
        image = await comfy.upload("rejected.png", png_bytes(Image.new("RGB", (96, 64))))
        graph = i2v_graph(image, prefix="video/rejected")
        loader = next(n for n in graph.values() if n["class_type"] == "UNETLoader")
        loader["inputs"]["unet_name"] = "absent_14B_fp8.safetensors"

        with pytest.raises(GraphError) as rejected:
            await comfy.run(graph, timeout=RUN_S)

    assert not rejected.value.retryable
    assert "absent_14B_fp8.safetensors" in rejected.value.message
    assert "UNETLoader" in rejected.value.message


async def test_a_node_failing_on_its_inputs_is_an_execution_error_not_retried(
    real_stack: RealStack, tmp_path: Path
) -> None:
    wav = tone(tmp_path / "short.wav", 1.0)
    async with ComfyClient(real_stack.comfy_url) as comfy:
        audio = await comfy.upload("short.wav", wav)
        graph = {
            "1": {"class_type": "LoadAudio", "inputs": {"audio": audio}},
            "2": {
                "class_type": "TrimAudioDuration",
                "inputs": {"audio": ["1", 0], "start_index": 5.0, "duration": 1.0},
            },
            "3": {
                "class_type": "SaveAudio",
                "inputs": {"audio": ["2", 0], "filename_prefix": "audio/past_end"},
            },
        }

        with pytest.raises(NodeInputRejected) as failed:
            await comfy.run(graph, timeout=RUN_S)

    assert not failed.value.retryable
    assert failed.value.detail["node_type"] == "TrimAudioDuration"
    assert failed.value.detail["exception_type"] == "ValueError"
    assert "Start time must be less than end time" in failed.value.message


async def test_an_identical_graph_submitted_again_still_returns_its_outputs(
    real_stack: RealStack,
) -> None:
    """A retried segment re-submits the same graph; ComfyUI serves it from its cache, and
    before a 2026-07 fix answered empty outputs unless the client id was new."""
    async with ComfyClient(real_stack.comfy_url) as comfy:
        image = await comfy.upload("again.png", png_bytes(Image.new("RGB", (96, 64), (9, 9, 9))))
        graph = {
            "1": {"class_type": "LoadImage", "inputs": {"image": image}},
            "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
            "3": {
                "class_type": "SaveImage",
                "inputs": {"images": ["2", 0], "filename_prefix": "again"},
            },
        }
        first = await comfy.run(graph, timeout=RUN_S)
        second = await comfy.run(graph, timeout=RUN_S)

    assert second.prompt_id != first.prompt_id
    assert [o.node_id for o in first.outputs] == ["3"]
    assert [(o.node_id, o.filename) for o in second.outputs] == [
        (o.node_id, o.filename) for o in first.outputs
    ]
