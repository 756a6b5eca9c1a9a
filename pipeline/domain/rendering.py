"""How each segment was rendered: the facts provenance manifests and cost reports use.

A GPU worker reports a ``Rendering`` with every segment it renders (``SegmentOutput``); the
session collects one ``SegmentRender`` per GPU attempt, re-renders included, and keeps them
in the run's ``result.json`` (``SessionRecord.renders``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Rendering(BaseModel):
    """How a GPU worker rendered one segment: what provenance and cost records keep."""

    model_config = ConfigDict(frozen=True)

    graph_sha256: str = Field(
        description="sha256 of the API-format graph sent to ComfyUI (workflows_comfy.graph."
        "graph_sha256: canonical JSON)."
    )
    comfyui_version: str = Field(description="``system.comfyui_version`` from /system_stats.")
    device: str = Field(
        description="The GPU class: the first device's name from /system_stats, e.g. "
        "'cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync', or 'cpu'."
    )
    worker: str = Field(description="The Temporal identity of the GPU worker that ran it.")
    gpu_s: float = Field(
        ge=0, description="Seconds the segment held the worker's GPU (its turn), wall clock."
    )
    execution_s: float | None = Field(
        default=None,
        description="ComfyUI's own time on the prompt (execution_start to its end, from "
        "/history); None where the history has no timestamps.",
    )


class SegmentRender(BaseModel):
    """One GPU render of a segment: every attempt, re-renders after a failed check included,
    so a run's record (provenance, cost) counts all the GPU work it caused."""

    model_config = ConfigDict(frozen=True)

    index: int = Field(ge=0, description="The segment's index in the plan.")
    attempt: int = Field(ge=0, description="0: its first render; k: its k-th re-render.")
    seed: int = Field(ge=0, description="The sampler seed this attempt rendered with.")
    key: str = Field(description="The segment file the attempt wrote.")
    rendering: Rendering | None = Field(
        default=None, description="How it ran; None from workers before provenance."
    )
