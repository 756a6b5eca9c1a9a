"""The C2PA manifest definition of a session's outputs (pipeline.domain.provenance)."""

from __future__ import annotations

from typing import Any

from pipeline.domain.provenance import (
    INGREDIENT_SHA256,
    RENDER_ASSERTION,
    TRAINED_ALGORITHMIC_MEDIA,
    InputFile,
    ModelFile,
    ProvenanceFacts,
    kept_renders,
    manifest_definition,
)
from pipeline.domain.rendering import Rendering, SegmentRender


def _render(index: int, attempt: int, graph: str, worker: str = "gpu-1") -> SegmentRender:
    return SegmentRender(
        index=index,
        attempt=attempt,
        seed=7 + attempt,
        key=f"sessions/s/runs/r/segments/{index:03d}-{attempt}.mp4",
        rendering=Rendering(
            graph_sha256=graph * 64,
            comfyui_version="0.3.64",
            device="cuda:0 NVIDIA H100",
            worker=worker,
            gpu_s=12.5,
        ),
    )


FACTS = ProvenanceFacts(
    generator="wan-pipeline",
    version="0.1.0",
    kind="i2v",
    preset="wan22-i2v-gguf",
    seed=42,
    steps=4,
    cfg=1.0,
    renders=(_render(0, 0, "a"), _render(1, 0, "b"), _render(1, 1, "c", worker="gpu-2")),
    models=(ModelFile(file="diffusion_models/high.gguf", sha256="d" * 64),),
    inputs=(
        InputFile(role="image", title="face.png", mime="image/png", sha256="e" * 64),
        InputFile(role="audio", title="voice.wav", mime="audio/wav", sha256="f" * 64),
    ),
)


def _assertion(definition: dict[str, Any], label: str) -> dict[str, Any]:
    [found] = [a["data"] for a in definition["assertions"] if a["label"] == label]
    return found  # type: ignore[no-any-return]


def test_the_created_action_names_trained_algorithmic_media_and_the_pipeline() -> None:
    definition = manifest_definition(FACTS, title="combined.mp4", mime="video/mp4")

    assert definition["claim_generator_info"] == [{"name": "wan-pipeline", "version": "0.1.0"}]
    assert (definition["title"], definition["format"]) == ("combined.mp4", "video/mp4")
    [action] = _assertion(definition, "c2pa.actions.v2")["actions"]
    assert action == {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": {"name": "wan-pipeline", "version": "0.1.0"},
    }


def test_inputs_are_input_to_ingredients_with_their_sha256() -> None:
    ingredients = manifest_definition(FACTS, title="poster.jpg", mime="image/jpeg")["ingredients"]

    assert [(i["title"], i["format"], i["relationship"]) for i in ingredients] == [
        ("face.png", "image/png", "inputTo"),
        ("voice.wav", "audio/wav", "inputTo"),
    ]
    assert [i["metadata"][INGREDIENT_SHA256] for i in ingredients] == ["e" * 64, "f" * 64]


def test_the_render_assertion_keeps_each_segments_kept_attempt() -> None:
    data = _assertion(manifest_definition(FACTS, title="c", mime="video/mp4"), RENDER_ASSERTION)

    assert data["graphs"] == [
        {"segment": 0, "attempt": 0, "graph_sha256": "a" * 64},
        {"segment": 1, "attempt": 1, "graph_sha256": "c" * 64},
    ]
    assert data["models"] == [{"file": "diffusion_models/high.gguf", "sha256": "d" * 64}]
    assert (data["preset"], data["seed"], data["steps"], data["cfg"]) == (
        "wan22-i2v-gguf",
        42,
        4,
        1.0,
    )
    assert data["worker"] == "gpu-1, gpu-2"
    assert data["comfyui_version"] == "0.3.64"
    assert "credential" not in data


def test_the_development_credential_is_said() -> None:
    facts = FACTS.model_copy(update={"credential": "development"})
    data = _assertion(manifest_definition(facts, title="c", mime="video/mp4"), RENDER_ASSERTION)

    assert data["credential"] == "development"


def test_renders_without_rendering_leave_the_fields_empty() -> None:
    bare = SegmentRender(index=0, attempt=0, seed=1, key="k", rendering=None)
    facts = FACTS.model_copy(update={"renders": (bare,)})
    data = _assertion(manifest_definition(facts, title="c", mime="video/mp4"), RENDER_ASSERTION)

    assert data["graphs"] == [{"segment": 0, "attempt": 0, "graph_sha256": None}]
    assert data["worker"] is None


def test_kept_renders_are_in_segment_order() -> None:
    renders = (_render(2, 0, "a"), _render(0, 1, "b"), _render(0, 0, "c"))

    assert [(r.index, r.attempt) for r in kept_renders(renders)] == [(0, 1), (2, 0)]
