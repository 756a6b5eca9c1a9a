"""Bring your own graph: a preset that runs an API-format workflow exported from ComfyUI. Pure.

A studio with a graph of its own (another LoRA stack, another sampler) exports it from the
ComfyUI editor with "Export (API)" and says in its presets file which node input receives
each value a segment brings (``workflows_comfy.preset_file``)::

    [[preset]]
    name = "studio-i2v"
    kind = "i2v"
    workflow = "studio_i2v.json"                 # relative to the presets file
    [preset.bind]
    image = "1.image"                            # node id . input name
    seed = ["10.noise_seed", "11.noise_seed"]    # one role may feed several inputs
    output = "14"                                # the node whose video is the segment
    ...

``ROLES`` says what each role receives, of which type, and for which kinds it is required;
a role left unbound keeps the graph's own value. Every length is in frames, ``fps`` and the
``audio_*`` roles in frames per second and seconds. What is checked, and when:

- at start (``load_bound``, no server needed): the file is API format (the editor's UI
  format is refused with how to export), every binding names a node of the graph and an
  input that node sets to a value (not a link), of the role's type (``INT`` roles hold an
  integer, file roles are ``LoadImage.image``, ``LoadAudio.audio``, ``LoadVideo.file``),
  every role the kind needs is bound, and ``output`` names a node nothing else reads; and
  the folder of every model file the graph loads is known (``LOADER_FOLDERS``,
  ``models.toml`` or the entry's ``folders``);
- against a server's ``/object_info`` (``binding_problems``: the captured contract in the
  tests, each worker's own ComfyUI when it starts): each bound input is declared by its
  node class with the role's type, and ``output`` is an output node; the built graph then
  passes ``validate_graph`` like the built-in ones.

An InfiniteTalk window continues the previous window's video (``previous_video``); the
first window has none, so its graph is the bound graph without the ``previous_video``
node and what only it feeds (``without_previous``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from workflows_comfy.graph import ApiGraph
from workflows_comfy.models import ModelFile
from workflows_comfy.object_info import ObjectInfo, input_spec, is_output_node, node_info
from workflows_comfy.presets import Preset

ValueType = Literal["file", "STRING", "INT", "FLOAT"]

_ALL = frozenset({"i2v", "s2v", "infinitetalk"})
_AUDIO = frozenset({"s2v", "infinitetalk"})
_TALK = frozenset({"infinitetalk"})
_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Role:
    """One value a segment brings to a bound graph."""

    type: ValueType
    """``INT``/``FLOAT``/``STRING``: the ComfyUI input type; ``file``: an uploaded file's name."""
    kinds: frozenset[str]
    """Kinds whose graphs may bind it."""
    required: frozenset[str]
    """Kinds whose graphs must bind it."""
    doc: str
    loader: tuple[str, str] | None = None
    """For ``file`` roles: the node class and input that load the uploaded file."""


ROLES: dict[str, Role] = {
    "image": Role("file", _ALL, _ALL, "start image / portrait", ("LoadImage", "image")),
    "audio": Role(
        "file", _AUDIO, _AUDIO, "driving audio, padded to the plan", ("LoadAudio", "audio")
    ),
    "previous_video": Role(
        "file",
        _TALK,
        _TALK,
        "the previous window's video (removed for the first window)",
        ("LoadVideo", "file"),
    ),
    "prompt": Role("STRING", _ALL, _ALL, "the manifest's prompt"),
    "negative_prompt": Role("STRING", _ALL, _NONE, "the manifest's negative prompt, if any"),
    "seed": Role("INT", _ALL, _ALL, "the segment's seed"),
    "steps": Role("INT", _ALL, _NONE, "sampling steps (manifest, else the preset's)"),
    "cfg": Role("FLOAT", _ALL, _NONE, "classifier-free guidance (manifest, else the preset's)"),
    "width": Role("INT", _ALL, _ALL, "frame width in pixels"),
    "height": Role("INT", _ALL, _ALL, "frame height in pixels"),
    "length": Role("INT", _ALL, _ALL, "frames the segment renders (S2V: all of them, one pass)"),
    "fps": Role("FLOAT", _ALL, _ALL, "the plan's frames per second"),
    "motion_frames": Role("INT", _TALK, _NONE, "frames of the previous window a window is shown"),
    "audio_start": Role(
        "FLOAT", _TALK, _TALK, "seconds into the audio the window's features start at"
    ),
    "audio_duration": Role("FLOAT", _TALK, _NONE, "seconds of audio the window needs"),
}
"""Every role a binding table may name besides ``output`` (``docs/presets.md``, "Bring your
own graph")."""

LOADER_FOLDERS: dict[tuple[str, str], str] = {
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("UnetLoaderGGUF", "unet_name"): "unet",
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
    ("LoraLoader", "lora_name"): "loras",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("DualCLIPLoader", "clip_name1"): "text_encoders",
    ("DualCLIPLoader", "clip_name2"): "text_encoders",
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("VAELoader", "vae_name"): "vae",
    ("AudioEncoderLoader", "audio_encoder_name"): "audio_encoders",
    ("ModelPatchLoader", "name"): "model_patches",
    ("UpscaleModelLoader", "model_name"): "upscale_models",
}
"""The ComfyUI ``models/`` folder each core (and ComfyUI-GGUF) loader input reads from
(``folder_paths`` in ComfyUI; ``/object_info`` does not say)."""

MODEL_SUFFIXES = (".safetensors", ".gguf", ".ckpt", ".pt", ".pth", ".bin", ".sft")
"""A string input ending so names a model file."""


@dataclass(frozen=True)
class Target:
    """One node input a role is written to."""

    node: str
    input: str

    def __str__(self) -> str:
        return f"{self.node}.{self.input}"


@dataclass(frozen=True)
class BoundGraphPreset(Preset):
    """A preset whose graph is an operator's API-format workflow with a binding table."""

    workflow: str
    """The workflow file, as named in messages."""
    graph: Mapping[str, Any] = field(hash=False, repr=False)
    bindings: Mapping[str, tuple[Target, ...]] = field(hash=False)
    output: str
    """The node whose video file is the segment."""
    models: tuple[str, ...]
    """Every model file the graph loads (rows of the model table)."""

    def files(self) -> tuple[str, ...]:
        return self.models

    def takes(self, setting: str) -> bool:
        return setting in self.bindings


def read_workflow(path: Path) -> ApiGraph:
    """The API-format graph in ``path``; ``ValueError`` saying what is wrong with the file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read the workflow: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if isinstance(document, dict) and isinstance(document.get("nodes"), list):
        raise ValueError(
            "this is the editor's UI format (nodes and links); "
            "export the workflow with 'Export (API)' instead"
        )
    if not isinstance(document, dict) or not document:
        raise ValueError("an API-format workflow is an object of node id -> node")
    for node_id, node in document.items():
        if not (
            isinstance(node, dict)
            and isinstance(node.get("class_type"), str)
            and isinstance(node.get("inputs"), dict)
        ):
            raise ValueError(f"node {node_id} is not {{class_type, inputs}} (API format)")
        for name, value in node["inputs"].items():
            if _is_link(value) and value[0] not in document:
                raise ValueError(f"node {node_id} input {name!r} links to missing node {value[0]}")
    return document


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)


def parse_targets(role: str, raw: Any) -> tuple[Target, ...]:
    """``"12.image"``, ``{node = "12", input = "image"}`` or a list of them; ``ValueError``."""
    items = raw if isinstance(raw, list) else [raw]
    targets: list[Target] = []
    for item in items:
        node, dot, name = item.partition(".") if isinstance(item, str) else ("", "", "")
        if node and dot and name:
            targets.append(Target(node, name))
        elif (
            isinstance(item, dict)
            and item.keys() == {"node", "input"}
            and all(isinstance(v, str | int) and str(v) for v in item.values())
        ):
            targets.append(Target(str(item["node"]), str(item["input"])))
        else:
            raise ValueError(
                f"bind.{role}: {item!r} is not 'node_id.input_name' or {{node, input}}"
            )
    if not targets:
        raise ValueError(f"bind.{role}: names no node input")
    return tuple(targets)


def _holds(value_type: ValueType, value: Any) -> bool:
    """Whether a widget value exported for an input fits a role of ``value_type``."""
    if value_type == "INT":
        return isinstance(value, int) and not isinstance(value, bool)
    if value_type == "FLOAT":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def binding_problems_static(
    graph: Mapping[str, Any], kind: str, bindings: Mapping[str, tuple[Target, ...]], output: str
) -> list[str]:
    """What is wrong with ``bindings`` for a ``kind`` graph, judged from the graph alone."""
    problems: list[str] = []
    for role in sorted(bindings.keys() - ROLES.keys()):
        problems.append(f"unknown role {role!r}; roles: output, {', '.join(ROLES)}")
    for role, spec in ROLES.items():
        if kind in spec.required and role not in bindings:
            problems.append(f"an {kind} graph must bind {role!r} ({spec.doc})")
        elif role in bindings and kind not in spec.kinds:
            problems.append(f"an {kind} graph has no {role!r} ({spec.doc}) to bind")
    for role, targets in bindings.items():
        if role not in ROLES:
            continue
        for target in targets:
            problem = _target_problem(graph, role, ROLES[role], target)
            if problem:
                problems.append(problem)
    if output not in graph:
        problems.append(f"output node {output} is not in the workflow")
    else:
        readers = [n for n, node in graph.items() if _reads(node, output)]
        if readers:
            problems.append(
                f"output node {output} ({graph[output]['class_type']}) is read by node "
                f"{readers[0]}: the output must be the node that saves the video"
            )
    return problems


def _reads(node: Mapping[str, Any], source: str) -> bool:
    return any(_is_link(v) and v[0] == source for v in node["inputs"].values())


def _target_problem(graph: Mapping[str, Any], role: str, spec: Role, target: Target) -> str:
    node = graph.get(target.node)
    if node is None:
        return f"bind.{role}: node {target.node} is not in the workflow"
    class_type, inputs = node["class_type"], node["inputs"]
    where = f"bind.{role}: node {target.node} ({class_type})"
    if target.input not in inputs:
        return f"{where} has no input {target.input!r}; it has {', '.join(inputs) or 'none'}"
    value = inputs[target.input]
    if _is_link(value):
        return f"{where} input {target.input!r} is linked from node {value[0]}; bind a value"
    if spec.loader is not None:
        if (class_type, target.input) != spec.loader:
            loader = ".".join(spec.loader)
            return f"{where} input {target.input!r}: {role} must bind {loader}"
    elif not _holds(spec.type, value):
        article = "an" if spec.type == "INT" else "a"
        return f"{where} input {target.input!r} holds {value!r}, not {article} {spec.type} ({role})"
    return ""


def binding_problems(preset: BoundGraphPreset, object_info: ObjectInfo) -> list[str]:
    """What a server with ``object_info`` says against ``preset``'s bindings.

    A node class the server lacks is not a binding problem (``servable.missing`` names it).
    """
    problems: list[str] = []
    for role, targets in preset.bindings.items():
        expected = ROLES[role].type
        for target in targets:
            class_type = preset.graph[target.node]["class_type"]
            if node_info(object_info, class_type) is None:
                continue
            spec = input_spec(object_info, class_type, target.input)
            where = f"{preset.workflow}: bind.{role}: node {target.node} ({class_type})"
            if spec is None:
                problems.append(f"{where} declares no input {target.input!r}")
            elif expected != "file" and spec.type != expected:
                problems.append(f"{where} input {target.input!r} is {spec.type}, not {expected}")
    output_class = preset.graph[preset.output]["class_type"]
    if node_info(object_info, output_class) is not None and not is_output_node(
        object_info, output_class
    ):
        problems.append(
            f"{preset.workflow}: output node {preset.output} ({output_class}) is not an output node"
        )
    return problems


def without_previous(
    graph: Mapping[str, Any], bindings: Mapping[str, tuple[Target, ...]]
) -> ApiGraph:
    """``graph`` for a first window: without the ``previous_video`` nodes and what only they feed.

    A node reading a removed node loses that input when it has other links (the optional
    ``previous_frames`` of ``WanInfiniteTalkToVideo``), else it is removed too.
    """
    pruned: ApiGraph = copy.deepcopy(dict(graph))
    removed = {t.node for t in bindings.get("previous_video", ())}
    while removed:
        for node_id in removed:
            pruned.pop(node_id, None)
        now: set[str] = set()
        for node_id, node in pruned.items():
            cut = [n for n, v in node["inputs"].items() if _is_link(v) and v[0] not in pruned]
            if not cut:
                continue
            links = [v for v in node["inputs"].values() if _is_link(v)]
            if len(links) == len(cut):
                now.add(node_id)
            for name in cut:
                del node["inputs"][name]
        removed = now
    return pruned


def graph_models(
    graph: Mapping[str, Any],
    known: Mapping[str, ModelFile],
    folders: Mapping[str, str],
    source: str,
) -> tuple[dict[str, ModelFile], list[str]]:
    """Each model file ``graph`` loads → its row, and the files whose folder is unknown.

    A file's folder comes from ``folders`` (the entry's), else the model table, else the
    loader's (``LOADER_FOLDERS``); new rows carry no URL and name ``source``.
    """
    rows: dict[str, ModelFile] = {}
    unknown: list[str] = []
    for node_id, class_type, name, value in _string_inputs(graph):
        if not value.endswith(MODEL_SUFFIXES) or value in rows:
            continue
        folder = folders.get(value) or (
            known[value].folder if value in known else LOADER_FOLDERS.get((class_type, name))
        )
        if folder is None:
            unknown.append(f"{value} (node {node_id} {class_type}.{name})")
        elif value in known and known[value].folder == folder:
            rows[value] = known[value]
        else:
            rows[value] = ModelFile(value, folder, url="", template=f"none: loaded by {source}")
    return rows, unknown


def _string_inputs(graph: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    for node_id, node in graph.items():
        for name, value in node["inputs"].items():
            if isinstance(value, str):
                yield node_id, node["class_type"], name, value


def bind(graph: Mapping[str, Any], preset: BoundGraphPreset, values: Mapping[str, Any]) -> ApiGraph:
    """A copy of ``graph`` with each bound role in ``values`` written to its inputs.

    Roles missing from ``values`` (or ``None``) keep the graph's values; the output node's
    ``filename_prefix``, if it has one, is set from ``values["filename_prefix"]``.
    """
    built: ApiGraph = copy.deepcopy(dict(graph))
    for role, targets in preset.bindings.items():
        value = values.get(role)
        if value is None:
            continue
        for target in targets:
            if target.node in built:
                built[target.node]["inputs"][target.input] = value
    save = built[preset.output]["inputs"]
    if "filename_prefix" in save and values.get("filename_prefix"):
        save["filename_prefix"] = values["filename_prefix"]
    return built


def load_bound(
    *,
    name: str,
    kind: str,
    workflow: Path,
    bind_table: Mapping[str, Any],
    steps: int | None,
    cfg: float | None,
    folders: Mapping[str, str],
    known: Mapping[str, ModelFile],
) -> tuple[BoundGraphPreset, dict[str, ModelFile]]:
    """The preset an entry describes, and the model-table rows of the files its graph loads.

    Raises ``ValueError`` naming every problem found (``binding_problems_static``).
    """
    graph = read_workflow(workflow)
    raw = dict(bind_table)
    output = raw.pop("output", None)
    if not isinstance(output, str | int) or isinstance(output, bool) or not str(output):
        raise ValueError("bind.output: name the node whose video is the segment (its id)")
    bindings = {role: parse_targets(role, value) for role, value in raw.items()}
    problems = binding_problems_static(graph, kind, bindings, str(output))
    if not problems and "previous_video" in bindings:
        first = without_previous(graph, bindings)
        lost = [
            f"{role} ({target})"
            for role, targets in bindings.items()
            for target in targets
            if role != "previous_video" and target.node not in first
        ]
        if str(output) not in first or lost:
            problems.append(
                "without the previous_video node (the first window) the graph loses "
                + ", ".join([*lost, *(["the output"] if str(output) not in first else [])])
            )
    for role, given in (("steps", steps), ("cfg", cfg)):
        if given is not None and role not in bindings:
            problems.append(f"{role} = {given} does nothing: the binding table has no {role!r}")
    rows, unknown = graph_models(graph, known, folders, str(workflow))
    unused = sorted(folders.keys() - rows.keys())
    if unused:
        problems.append(f"folders names {', '.join(unused)}, which the workflow does not load")
    if unknown:
        problems.append(
            f"the models/ folder of {', '.join(unknown)} is unknown; "
            "name it in [preset.folders] (file name = folder)"
        )
    if problems:
        raise ValueError("; ".join(problems))
    preset = BoundGraphPreset(
        name=name,
        kind=kind,
        steps=steps if steps is not None else _graph_int(graph, bindings, "steps", default=1),
        cfg=float(cfg) if cfg is not None else float(_graph_value(graph, bindings, "cfg", 1.0)),
        workflow=str(workflow),
        graph=graph,
        bindings=bindings,
        output=str(output),
        models=tuple(rows),
    )
    return preset, rows


def _graph_value(
    graph: Mapping[str, Any], bindings: Mapping[str, tuple[Target, ...]], role: str, default: Any
) -> Any:
    """The graph's own value of ``role``'s first bound input, or ``default`` when unbound."""
    targets = bindings.get(role)
    if not targets:
        return default
    return graph[targets[0].node]["inputs"][targets[0].input]


def _graph_int(
    graph: Mapping[str, Any], bindings: Mapping[str, tuple[Target, ...]], role: str, default: int
) -> int:
    """``_graph_value``, else the first integer ``role`` input of any node (the progress bar's
    step count when ``steps`` is unbound)."""
    value = _graph_value(graph, bindings, role, None)
    if value is None:
        found = (
            v
            for node in graph.values()
            for n, v in node["inputs"].items()
            if n == role and _holds("INT", v)
        )
        value = next(found, default)
    return int(value)
