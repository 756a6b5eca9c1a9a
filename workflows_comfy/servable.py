"""Which kinds and presets a ComfyUI server can run, judged from its ``/object_info``. Pure.

A preset is servable when a small graph of its kind passes ``validate_graph`` against the
server's object_info: every node installed, every model file offered by its loader. When
it is not, ``missing`` names what the server lacks: node classes, and model files with the
ComfyUI ``models/`` folder they go in (``models.toml``). A preset of an operator's own graph
must also have its bindings fit the server's node classes (``bound.binding_problems``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.domain.frames.plan import WindowPlan
from pipeline.domain.manifest import Kind
from workflows_comfy.bound import BoundGraphPreset, binding_problems
from workflows_comfy.build import SegmentGraphRequest, build_graph
from workflows_comfy.infinitetalk import MOTION_FRAMES, WINDOW_FRAMES
from workflows_comfy.models import ModelFile, model_file, model_files
from workflows_comfy.object_info import input_spec, node_info
from workflows_comfy.presets import PRESETS
from workflows_comfy.s2v import DEFAULT_CHUNK_LENGTH, s2v_output_frames
from workflows_comfy.validate import validate_graph

_PROBES: dict[Kind, tuple[int, WindowPlan | None]] = {
    Kind.I2V: (81, None),
    # Two chunks, so the probe needs the Extend and LatentConcat nodes longer runs use.
    Kind.S2V: (
        s2v_output_frames(DEFAULT_CHUNK_LENGTH, 2),
        WindowPlan(length=DEFAULT_CHUNK_LENGTH, overlap=0, count=2),
    ),
    # The second window, so the probe needs the nodes that load the previous window.
    Kind.INFINITETALK: (
        WINDOW_FRAMES,
        WindowPlan(
            length=WINDOW_FRAMES,
            overlap=MOTION_FRAMES,
            count=2,
            motion_frames=MOTION_FRAMES,
            frame_offsets=(0, WINDOW_FRAMES - MOTION_FRAMES),
        ),
    ),
}
"""Per kind: frames and windows of the small graph used as a probe."""


@dataclass(frozen=True)
class Missing:
    """What a server lacks to run a preset's graph."""

    nodes: tuple[str, ...] = ()
    """Node classes not in ``/object_info`` (a node pack is missing or failed to import)."""
    models: tuple[ModelFile, ...] = ()
    """Model files no loader offers."""
    bindings: tuple[str, ...] = ()
    """An operator graph's bindings the server's node classes do not accept."""

    def __bool__(self) -> bool:
        return bool(self.nodes or self.models or self.bindings)

    def model_paths(self) -> list[str]:
        """``folder/name`` of each missing file, as under ``ComfyUI/models``."""
        return [f"{m.folder}/{m.name}" for m in self.models]

    def describe(self) -> str:
        parts = [f"node {name}" for name in self.nodes]
        parts += [f"model {path}" for path in self.model_paths()]
        parts += [f"binding {problem}" for problem in self.bindings]
        return ", ".join(parts)


def probe_graph(kind: Kind, preset: str) -> dict[str, dict[str, Any]]:
    """The smallest graph of ``kind`` with ``preset``'s models."""
    length, windows = _PROBES[kind]
    return build_graph(
        kind,
        SegmentGraphRequest(
            image_name="probe.png",
            audio_name="probe.wav",
            prompt="",
            width=832,
            height=480,
            fps=25.0 if kind is Kind.INFINITETALK else 16.0,
            length=length,
            seed=0,
            preset=preset,
            filename_prefix="video/probe",
            windows=windows,
            segment_index=1 if kind is Kind.INFINITETALK else 0,
            previous_video_name="probe.mp4" if kind is Kind.INFINITETALK else None,
        ),
    )


def servable(object_info: Mapping[str, Any]) -> dict[str, list[str]]:
    """Kind → the presets of that kind this server accepts (kinds with none are left out)."""
    found: dict[str, list[str]] = {}
    for name, chosen in sorted(PRESETS.items()):
        if (
            _bindings_fit(chosen, object_info)
            and validate_graph(probe_graph(Kind(chosen.kind), name), object_info).ok
        ):
            found.setdefault(chosen.kind, []).append(name)
    return found


def preset_models(preset: str) -> tuple[ModelFile, ...]:
    """Every model file ``preset`` loads (rows of ``models.toml``)."""
    return tuple(model_file(name) for name in dict.fromkeys(PRESETS[preset].files()))


def missing(object_info: Mapping[str, Any], preset: str) -> Missing:
    """Node classes and model files ``preset``'s graph needs that the server lacks."""
    graph = probe_graph(Kind(PRESETS[preset].kind), preset)
    known = model_files()
    nodes = sorted(
        {n["class_type"] for n in graph.values() if node_info(object_info, n["class_type"]) is None}
    )
    models: dict[str, ModelFile] = {}
    for node in graph.values():
        class_type = node["class_type"]
        if class_type in nodes:
            continue
        for name, value in node["inputs"].items():
            if not isinstance(value, str) or value not in known:
                continue
            spec = input_spec(object_info, class_type, name)
            offered = spec.combo_values if spec is not None else None
            if offered is None or value not in offered:
                models[value] = known[value]
    ordered = sorted(models.values(), key=lambda m: (m.folder, m.name))
    chosen = PRESETS[preset]
    bindings = binding_problems(chosen, object_info) if isinstance(chosen, BoundGraphPreset) else []
    return Missing(tuple(nodes), tuple(ordered), tuple(bindings))


def _bindings_fit(chosen: object, object_info: Mapping[str, Any]) -> bool:
    return not isinstance(chosen, BoundGraphPreset) or not binding_problems(chosen, object_info)


def missing_by_preset(object_info: Mapping[str, Any]) -> dict[str, Missing]:
    """Preset → what the server lacks for it, for the presets it cannot serve."""
    return {name: found for name in sorted(PRESETS) if (found := missing(object_info, name))}
