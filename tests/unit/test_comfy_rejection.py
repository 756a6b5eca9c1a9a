"""POST /prompt rejections, as a real ComfyUI server sent them, described in words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.comfy.rejection import describe_rejection

HTTP = Path(__file__).parents[1] / "data" / "comfyui_contract" / "http"
REJECTIONS = sorted(HTTP.glob("post_prompt_err_*.json"))


def test_the_contract_has_rejections() -> None:
    assert len(REJECTIONS) >= 10


@pytest.mark.parametrize("path", REJECTIONS, ids=lambda p: p.stem)
def test_every_rejected_node_and_input_is_named(path: Path) -> None:
    captured = json.loads(path.read_text())
    body = captured.get("body")
    text = describe_rejection(body, captured.get("body_text") or "")
    assert text.startswith("ComfyUI rejected the graph: ")
    if not isinstance(body, dict):
        assert "Server got itself in trouble" in text
        return
    assert body["error"]["message"] in text
    for node_id, node in body["node_errors"].items():
        assert f"node {node_id} ({node['class_type']})" in text
        for error in node["errors"]:
            input_name = error.get("extra_info", {}).get("input_name")
            if input_name:
                assert f"input {input_name!r}" in text


def test_long_combo_lists_are_clipped() -> None:
    captured = json.loads((HTTP / "post_prompt_err_combo_model_not_in_list.json").read_text())
    text = describe_rejection(captured["body"], "")
    assert "node 1 (UNETLoader) input 'unet_name': Value not in list" in text
    assert "wan2.2_does_not_exist.safetensors" in text
    assert len(text) < 400
