"""A tiny typed builder for ComfyUI graphs in API format.

API format is ``{node_id: {"class_type": str, "inputs": {name: value | [node_id, index]}}}``;
a link is a two-item list naming another node's output slot. ``Graph`` hands out node ids
"1", "2", ... in insertion order so that a graph built from the same parameters is byte-for-
byte the same (ComfyUI caches by inputs, and golden files stay stable).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

_T = TypeVar("_T")

Scalar = str | int | float | bool

ApiGraph = dict[str, dict[str, Any]]
"""A graph in API format, what ``POST /prompt`` takes as ``prompt`` and ``Graph.to_api`` returns."""


@dataclass(frozen=True)
class Link:
    """An output slot of a node, used as another node's input."""

    node_id: str
    index: int

    def to_api(self) -> list[str | int]:
        return [self.node_id, self.index]


InputValue = Scalar | Link


@dataclass(frozen=True)
class NodeRef:
    """A node added to a ``Graph``."""

    id: str
    class_type: str

    def out(self, index: int = 0) -> Link:
        if index < 0:
            raise ValueError(f"output index must be >= 0, got {index}")
        return Link(self.id, index)


@dataclass(frozen=True)
class _Node:
    class_type: str
    inputs: dict[str, InputValue]
    title: str | None


class Graph:
    """Nodes in insertion order; ``to_api()`` gives the dict ``POST /prompt`` expects."""

    def __init__(self) -> None:
        self._nodes: dict[str, _Node] = {}

    def add(self, class_type: str, /, *, title: str | None = None, **inputs: InputValue) -> NodeRef:
        """Add a node; ``title`` only labels it in the ComfyUI UI (``_meta.title``)."""
        return self.add_node(class_type, inputs, title=title)

    def add_node(
        self, class_type: str, inputs: Mapping[str, InputValue], *, title: str | None = None
    ) -> NodeRef:
        """``add`` for inputs whose names are not identifiers (``format.codec``)."""
        if not class_type:
            raise ValueError("class_type must not be empty")
        for name, value in inputs.items():
            if isinstance(value, Link) and value.node_id not in self._nodes:
                raise ValueError(f"{class_type}.{name} links to unknown node {value.node_id!r}")
        node_id = str(len(self._nodes) + 1)
        self._nodes[node_id] = _Node(class_type, dict(inputs), title)
        return NodeRef(node_id, class_type)

    def __len__(self) -> int:
        return len(self._nodes)

    def to_api(self) -> ApiGraph:
        api: ApiGraph = {}
        for node_id, node in self._nodes.items():
            entry: dict[str, Any] = {
                "class_type": node.class_type,
                "inputs": {
                    name: value.to_api() if isinstance(value, Link) else value
                    for name, value in node.inputs.items()
                },
            }
            if node.title is not None:
                entry["_meta"] = {"title": node.title}
            api[node_id] = entry
        return api


MAX_SEED = 2**64 - 1
"""Sampler seeds' maximum in ComfyUI (``noise_seed``/``seed``)."""


def graph_sha256(graph: ApiGraph) -> str:
    """The sha256 (lower-case hex) of ``graph`` as canonical JSON: keys sorted, no spaces.

    The same graph hashes the same whatever order its dict was built in, so a provenance
    record names exactly the prompt ComfyUI ran (its file names and seed included).
    """
    canonical = json.dumps(graph, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_size(width: int, height: int) -> None:
    """Wan's VAE works on multiples of 16; raise ``ValueError`` naming the bad side."""
    for name, size in (("width", width), ("height", height)):
        if size < 16 or size % 16:
            raise ValueError(f"{name} must be a positive multiple of 16, got {size}")


def check_sampling(*, seed: int, cfg: float, filename_prefix: str) -> None:
    """The sampler and output checks every family shares."""
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be in 0..{MAX_SEED}, got {seed}")
    if not 0.0 <= cfg <= 100.0:
        raise ValueError(f"cfg must be in 0..100, got {cfg}")
    if not filename_prefix:
        raise ValueError("filename_prefix must not be empty")


def resolve(value: _T | None, default: _T) -> _T:
    """``value``, or the preset's ``default`` when the caller left it unset."""
    return default if value is None else value


HANDOFF_TITLE = "Hand-off frames"
"""``_meta.title`` of the ``SaveImage`` that ``save_handoff`` adds; ``handoff_node`` finds it."""
HANDOFF_SUFFIX = "_handoff"
"""Added to the segment's ``filename_prefix`` for the hand-off PNGs."""


def save_handoff(
    g: Graph, images: Link, *, decoded: int, frames: int, filename_prefix: str
) -> NodeRef:
    """Save the last ``frames`` of the ``decoded`` frames at ``images`` as lossless PNGs.

    ``ImageFromBatch`` (``comfy_extras/nodes_images.py``, ComfyUI 0.33.0) takes
    ``length`` frames from ``batch_index`` (a non-negative index, which 0.3.64's schema
    also accepts); ``SaveImage`` (``nodes.py``) writes each as an 8-bit RGB PNG
    (``clip(255·x).astype(uint8)``, no alpha, no gamma chunk), one file per frame, so no
    frame is merged away as the animated savers merge identical neighbours. ``LoadImage``
    reads such a PNG back as exactly those bytes over 255: the next prompt conditions on
    the frames this one decoded, not on an H.264 re-encode of them.
    """
    if not 1 <= frames <= decoded:
        raise ValueError(f"cannot hand over {frames} of {decoded} decoded frame(s)")
    last = g.add("ImageFromBatch", image=images, batch_index=decoded - frames, length=frames)
    return g.add(
        "SaveImage",
        title=HANDOFF_TITLE,
        images=last.out(),
        filename_prefix=filename_prefix + HANDOFF_SUFFIX,
    )


def handoff_node(graph: ApiGraph) -> str | None:
    """The id of the node ``save_handoff`` added to ``graph``, or ``None`` without one."""
    found = [
        node_id
        for node_id, node in graph.items()
        if node["class_type"] == "SaveImage" and node.get("_meta", {}).get("title") == HANDOFF_TITLE
    ]
    return found[0] if found else None


def save_video(g: Graph, video: Link, filename_prefix: str) -> NodeRef:
    """``SaveVideo`` as H.264 MP4, spelled so that 0.3.64 and current ComfyUI both accept it.

    0.3.64 (the contract server) declares ``format`` and ``codec`` as two flat combos.
    Current ComfyUI (``comfy_extras/nodes_video.py``, Comfy-Org/ComfyUI) makes ``format`` a
    dynamic combo whose chosen option adds a nested ``format.codec``, and keeps a hidden
    optional top-level ``codec`` that ``execute`` falls back to
    (``format.get("codec") or codec``). The graph sets all three: each server validates
    the inputs it declares and ignores the others, so the same graph runs on both.
    """
    return g.add_node(
        "SaveVideo",
        {
            "video": video,
            "filename_prefix": filename_prefix,
            "format": "mp4",
            "codec": "h264",
            "format.codec": "h264",
        },
    )
