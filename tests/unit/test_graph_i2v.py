"""The graph builder, the model presets and the Wan 2.2 I2V graph."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pipeline.domain.errors import ManifestError, UnknownPreset
from pipeline.standins.comfy_sim.object_info import contract_object_info
from workflows_comfy.graph import Graph, Link, graph_sha256, handoff_node
from workflows_comfy.i2v import I2VParams, build_i2v
from workflows_comfy.presets import DEFAULT_PRESET, preset, presets_of
from workflows_comfy.validate import validate_graph

Api = dict[str, dict[str, Any]]

PARAMS = I2VParams(
    image_name="start.png",
    prompt="a lighthouse in a storm",
    width=832,
    height=480,
    length=81,
    seed=1234,
    negative_prompt="blurry",
    fps=16,
    steps=6,
    cfg=1.5,
    filename_prefix="video/session_seg000",
)


def nodes_of(graph: Api, class_type: str) -> list[dict[str, Any]]:
    return [node for node in graph.values() if node["class_type"] == class_type]


def linked(graph: Api, link: list[Any]) -> dict[str, Any]:
    node_id, _index = link
    return graph[node_id]


def samplers(graph: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    """(high-noise, low-noise): the one adding noise runs first."""
    found = nodes_of(graph, "KSamplerAdvanced")
    assert len(found) == 2
    first, second = sorted(found, key=lambda n: n["inputs"]["add_noise"] != "enable")
    return first["inputs"], second["inputs"]


def test_graph_numbers_nodes_in_order_and_serialises_links() -> None:
    g = Graph()
    image = g.add("LoadImage", image="a.png")
    g.add("SaveImage", title="Out", images=image.out(), filename_prefix="x")
    assert g.to_api() == {
        "1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
        "2": {
            "class_type": "SaveImage",
            "inputs": {"images": ["1", 0], "filename_prefix": "x"},
            "_meta": {"title": "Out"},
        },
    }
    assert len(g) == 2


def test_graph_refuses_a_link_to_a_node_it_does_not_have() -> None:
    with pytest.raises(ValueError, match="unknown node '7'"):
        Graph().add("VAEDecode", samples=Link("7", 0))


@pytest.mark.parametrize("name", presets_of("i2v"))
def test_each_preset_builds_a_graph_the_contract_server_accepts(name: str) -> None:
    graph = build_i2v(dataclasses.replace(PARAMS, preset=name))
    result = validate_graph(graph, contract_object_info(), input_files={"start.png"})
    assert result.ok
    assert result.problems == ()
    assert result.outputs_to_execute == [
        node_id for node_id, node in graph.items() if node["class_type"] == "SaveVideo"
    ]


def test_default_preset_is_fp8_with_unet_loader_weight_dtype() -> None:
    graph = build_i2v(PARAMS)
    assert DEFAULT_PRESET["i2v"] == "wan22-i2v-fp8"
    loaders = nodes_of(graph, "UNETLoader")
    assert [n["inputs"] for n in loaders] == [
        {
            "unet_name": "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
            "weight_dtype": "default",
        },
        {"unet_name": "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors", "weight_dtype": "default"},
    ]


def test_each_expert_gets_its_own_model_lora_and_shift() -> None:
    graph = build_i2v(dataclasses.replace(PARAMS, preset="wan22-i2v-gguf"))
    assert not nodes_of(graph, "UNETLoader")
    stages = (("HighNoise", "high"), ("LowNoise", "low"))
    for sampler, (gguf, lora_stage) in zip(samplers(graph), stages, strict=True):
        sampling = linked(graph, sampler["model"])
        assert sampling["class_type"] == "ModelSamplingSD3"
        assert sampling["inputs"]["shift"] == 5.0  # the current template's ModelSamplingSD3
        lora = linked(graph, sampling["inputs"]["model"])
        assert lora["inputs"]["lora_name"] == (
            f"wan2.2_i2v_lightx2v_4steps_lora_v1_{lora_stage}_noise.safetensors"
        )
        unet = linked(graph, lora["inputs"]["model"])
        assert unet["class_type"] == "UnetLoaderGGUF"
        assert unet["inputs"] == {"unet_name": f"Wan2.2-I2V-A14B-{gguf}-Q4_K_M.gguf"}


def test_samplers_split_at_half_the_steps_by_default() -> None:
    high, low = samplers(build_i2v(PARAMS))
    assert (high["start_at_step"], high["end_at_step"]) == (0, 3)
    assert high["return_with_leftover_noise"] == "enable"
    assert (low["start_at_step"], low["end_at_step"]) == (3, PARAMS.steps)
    assert low["return_with_leftover_noise"] == "disable"


def test_low_noise_sampler_continues_the_high_noise_latent_at_a_custom_boundary() -> None:
    graph = build_i2v(dataclasses.replace(PARAMS, steps=8, boundary_step=5))
    high, low = samplers(graph)
    assert high["end_at_step"] == low["start_at_step"] == 5
    assert linked(graph, low["latent_image"])["inputs"] is high
    assert linked(graph, high["latent_image"])["class_type"] == "WanImageToVideo"


def test_seed_steps_and_cfg_reach_both_samplers() -> None:
    for sampler in samplers(build_i2v(PARAMS)):
        assert (sampler["noise_seed"], sampler["steps"], sampler["cfg"]) == (1234, 6, 1.5)
        assert (sampler["sampler_name"], sampler["scheduler"]) == ("euler", "simple")


def test_size_length_fps_prompts_and_prefix_reach_their_nodes() -> None:
    graph = build_i2v(PARAMS)
    (i2v,) = nodes_of(graph, "WanImageToVideo")
    inputs = i2v["inputs"]
    assert (inputs["width"], inputs["height"], inputs["length"], inputs["batch_size"]) == (
        832,
        480,
        81,
        1,
    )
    assert linked(graph, inputs["start_image"])["inputs"] == {"image": "start.png"}
    assert linked(graph, inputs["positive"])["inputs"]["text"] == "a lighthouse in a storm"
    assert linked(graph, inputs["negative"])["inputs"]["text"] == "blurry"
    (video,) = nodes_of(graph, "CreateVideo")
    assert video["inputs"]["fps"] == 16.0
    (save,) = nodes_of(graph, "SaveVideo")
    assert save["inputs"] == {
        "video": save["inputs"]["video"],
        "filename_prefix": "video/session_seg000",
        "format": "mp4",
        "codec": "h264",
        "format.codec": "h264",
    }
    assert linked(graph, save["inputs"]["video"]) is video


def test_same_params_build_the_same_graph() -> None:
    assert build_i2v(PARAMS) == build_i2v(dataclasses.replace(PARAMS))


def test_graph_sha256_names_the_prompt_whatever_its_key_order() -> None:
    graph = build_i2v(PARAMS)
    reordered = {node_id: dict(reversed(node.items())) for node_id, node in reversed(graph.items())}
    assert list(reordered) != list(graph)
    assert graph_sha256(reordered) == graph_sha256(graph)
    assert len(graph_sha256(graph)) == 64
    assert graph_sha256(build_i2v(dataclasses.replace(PARAMS, seed=1235))) != graph_sha256(graph)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"length": 80}, "4n\\+1"),
        ({"length": 0}, "4n\\+1"),
        ({"width": 830}, "width"),
        ({"height": 0}, "height"),
        ({"steps": 1}, "steps"),
        ({"boundary_step": 0}, "boundary_step"),
        ({"boundary_step": 6}, "boundary_step"),
        ({"seed": -1}, "seed"),
        ({"fps": 0}, "fps"),
        ({"cfg": -1.0}, "cfg"),
        ({"image_name": ""}, "image_name"),
        ({"filename_prefix": ""}, "filename_prefix"),
    ],
)
def test_out_of_range_params_are_rejected(change: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        build_i2v(dataclasses.replace(PARAMS, **change))


def test_unknown_preset_is_a_manifest_error_naming_the_known_ones() -> None:
    with pytest.raises(UnknownPreset) as caught:
        preset("wan99-magic")
    assert isinstance(caught.value, ManifestError)
    assert "wan22-i2v-fp8" in caught.value.message
    assert "wan22-i2v-gguf" in caught.value.message
    with pytest.raises(UnknownPreset):
        build_i2v(dataclasses.replace(PARAMS, preset="wan99-magic"))


def test_an_extended_segment_also_saves_its_last_decoded_frame_losslessly() -> None:
    plain = build_i2v(PARAMS)
    graph = build_i2v(dataclasses.replace(PARAMS, handoff_frames=1))
    saver_id = handoff_node(graph)
    assert saver_id is not None
    saver = graph[saver_id]["inputs"]
    picked = linked(graph, saver["images"])

    assert picked["class_type"] == "ImageFromBatch"
    assert (picked["inputs"]["batch_index"], picked["inputs"]["length"]) == (80, 1)
    assert linked(graph, picked["inputs"]["image"])["class_type"] == "VAEDecode"
    assert saver["filename_prefix"] == "video/session_seg000_handoff"
    # The saver is added last: every node of the graph without it keeps its id.
    assert {k: v for k, v in graph.items() if int(k) <= len(plain)} == plain
    assert handoff_node(plain) is None
    result = validate_graph(graph, contract_object_info(), input_files={"start.png"})
    assert result.ok, result.problems
    assert sorted(graph[n]["class_type"] for n in result.outputs_to_execute) == [
        "SaveImage",
        "SaveVideo",
    ]


def test_a_segment_cannot_hand_over_more_frames_than_it_renders() -> None:
    with pytest.raises(ValueError, match=r"handoff_frames must be in 0\.\.81, got 82"):
        build_i2v(dataclasses.replace(PARAMS, handoff_frames=82))
