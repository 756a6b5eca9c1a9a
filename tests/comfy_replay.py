"""Compare a comfy-sim run of a graph with what the real ComfyUI 0.33.0 sent for it.

A transcript is the WebSocket frames (``{"type", "data"}``, as in
``pipeline/standins/comfy_sim/contract/transcripts/NAME.ws.jsonl``) and the ``/history`` entry
of one prompt. ``normalise_frames`` and ``normalise_history`` keep everything but what
legitimately varies between two runs of the same graph; ``differences`` lists what is left
that differs (empty: the runs match).

What is dropped: times (``t``, ``timestamp``, ``create_time``'s value), ids (``sid``,
``prompt_id``, ``client_id``: each must only be the run's own, which is checked), the prompt's
queue ``number``, tensors' printed values in ``current_inputs`` (their names are kept), the
folder ComfyUI is installed in (in traceback lines), the
counter in output file names (``capture_it_w0_00002_.mp4`` becomes ``capture_it_w0_#####_.mp4``;
a real output folder that held earlier files counts on) and the order of
``current_outputs`` (a set on the real server).

What is collapsed: a *step report* is a ``progress_state`` in which a running node has a value
above 0, with the ``progress`` frame after it. ComfyUI 0.33.0's throttle
(``comfy/utils.py`` ``ProgressBar.update_absolute``: the first and the last step always, others
only 100 ms and 0.5 % after the previous one) decides how many of a node's steps are reported,
which depends on timing. So each unbroken run of one node's step reports becomes its first
and its last report (value/max), and the values in between must rise. Everything else,
message kinds, their order, node ids, node states, output shapes and error texts, must be equal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pipeline.comfy.capture.record import binary_frame

_PACKAGE = re.compile(r'File "[^"]*?/(?=(?:comfy(?:_[a-z]+)?|custom_nodes)/)')
_TOP_LEVEL = re.compile(r'File "[^"]*/(?=[^"/]+\.py")')
"""Where the server was installed: the path before its own packages (``comfy/``,
``comfy_extras/``, ``custom_nodes/``, ...) or before one of its top-level modules."""


def _relative(line: str) -> str:
    """A traceback line with the install folder left out (``_PACKAGE``, ``_TOP_LEVEL``)."""
    stripped, found = _PACKAGE.subn('File "', line, count=1)
    return stripped if found else _TOP_LEVEL.sub('File "', line, count=1)
_COUNTER = re.compile(r"_\d{5}_(\.\w+)$")


def _progress_nodes(data: Mapping[str, Any]) -> dict[str, tuple[str, float, float]]:
    return {
        node: (entry["state"], float(entry["value"]), float(entry["max"]))
        for node, entry in data["nodes"].items()
    }


def _step(data: Mapping[str, Any]) -> tuple[str, float, float] | None:
    """The (node, value, max) a step report's ``progress_state`` carries, else ``None``."""
    for node, (state, value, maximum) in _progress_nodes(data).items():
        if state == "running" and value > 0:
            return node, value, maximum
    return None


def output_shape(output: Mapping[str, Any] | None) -> Any:
    """An ``executed`` output or ``/history`` output: keys, list lengths and file entries with
    the file counter masked."""
    if output is None:
        return None
    shape: dict[str, Any] = {}
    for key, value in sorted(output.items()):
        if key == "animated":
            shape[key] = value
        elif isinstance(value, list):
            shape[key] = [
                {**item, "filename": _COUNTER.sub(r"_#####_\1", item["filename"])}
                if isinstance(item, dict) and "filename" in item
                else item
                for item in value
            ]
        else:
            shape[key] = value
    return shape


def error_shape(data: Mapping[str, Any]) -> dict[str, Any]:
    """An ``execution_error`` / ``execution_interrupted``: every field, with the traceback's
    last entry (the raising line), input names for ``current_inputs`` and ``current_outputs``
    as a set."""
    shape: dict[str, Any] = {
        key: value
        for key, value in data.items()
        if key not in ("prompt_id", "timestamp", "traceback", "current_inputs", "current_outputs")
    }
    shape["keys"] = sorted(data)
    if "traceback" in data:
        raised = data["traceback"][-1].splitlines()[0] if data["traceback"] else None
        shape["raised_at"] = _relative(raised) if raised else None
    if "current_inputs" in data:
        shape["current_inputs"] = sorted(data["current_inputs"])
    if "current_outputs" in data:
        shape["current_outputs"] = sorted(data["current_outputs"])
    return shape


def _message(kind: str, data: Mapping[str, Any]) -> tuple[Any, ...]:
    if kind == "status":
        return ("status", data["status"]["exec_info"]["queue_remaining"])
    if kind == "execution_cached":
        return ("execution_cached", tuple(sorted(data["nodes"])))
    if kind == "executing":
        return ("executing", data["node"], data.get("display_node"))
    if kind == "executed":
        return ("executed", data["node"], repr(output_shape(data["output"])))
    if kind == "progress_state":
        return ("progress_state", tuple(sorted(_progress_nodes(data).items())))
    if kind in ("execution_error", "execution_interrupted"):
        return (kind, repr(sorted(error_shape(data).items())))
    return (kind,)


def _ids(frames: Iterable[Mapping[str, Any]], prompt_id: str) -> list[str]:
    return [
        f"{frame['type']} names prompt {frame['data']['prompt_id']!r}, not {prompt_id!r}"
        for frame in frames
        if isinstance(frame.get("data"), dict)
        and "prompt_id" in frame["data"]
        and frame["data"]["prompt_id"] != prompt_id
    ]


def normalise_frames(frames: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """The frames as comparable messages, step reports collapsed (see the module docstring).

    A binary frame becomes ``("binary", event type)``, whether given as the bytes a live
    socket received or as a capture stored it (``pipeline.comfy.capture.record.binary_frame``).
    Raises ``ValueError`` if a node's collapsed step values do not rise.
    """
    out: list[tuple[Any, ...]] = []
    run: list[tuple[str, float, float]] = []

    def flush() -> None:
        if not run:
            return
        values = [value for _, value, _ in run]
        if values != sorted(set(values)):
            raise ValueError(f"node {run[0][0]}'s step values do not rise: {values}")
        first, last = run[0], run[-1]
        out.append(("steps", first[0], (first[1], first[2]), (last[1], last[2])))
        run.clear()

    index = 0
    while index < len(frames):
        frame = frames[index]
        kind, data = frame["type"], frame["data"]
        step = _step(data) if kind == "progress_state" else None
        following = frames[index + 1] if index + 1 < len(frames) else None
        if step is not None and following is not None and following["type"] == "progress":
            if run and run[-1][0] != step[0]:
                flush()
            progress = following["data"]
            if (progress["node"], float(progress["value"]), float(progress["max"])) != step:
                raise ValueError(f"progress {progress} does not repeat its progress_state {step}")
            run.append(step)
            index += 2
            continue
        flush()
        if kind == "binary":
            stored = binary_frame(data) if isinstance(data, bytes) else data
            out.append(("binary", stored["event_type_u32be"]))
        else:
            out.append(_message(kind, data))
        index += 1
    flush()
    return out


def normalise_history(entry: Mapping[str, Any], graph: Mapping[str, Any]) -> dict[str, Any]:
    """A ``/history/{id}`` entry without what varies (see the module docstring)."""
    number, _, prompt, extra, outputs_to_execute = entry["prompt"][:5]
    status = entry["status"]
    return {
        "keys": sorted(entry),
        "prompt": [
            isinstance(number, int | float),
            prompt == graph,
            sorted(extra),
            isinstance(extra.get("create_time"), int),
            sorted(outputs_to_execute),
        ],
        "outputs": {node: output_shape(output) for node, output in entry["outputs"].items()},
        "meta": entry.get("meta"),
        "status": {
            "keys": sorted(status),
            "status_str": status["status_str"],
            "completed": status["completed"],
            "messages": [
                [kind, error_shape(data) if kind.startswith("execution_e") else sorted(data)]
                for kind, data in status["messages"]
            ],
        },
    }


def differences(
    real_frames: Sequence[Mapping[str, Any]],
    real_history: Mapping[str, Any],
    sim_frames: Sequence[Mapping[str, Any]],
    sim_history: Mapping[str, Any],
    graph: Mapping[str, Any],
) -> list[str]:
    """Every way the sim's run differs from the real one (empty when they match)."""
    found: list[str] = []
    for name, frames, history in (
        ("real", real_frames, real_history),
        ("sim", sim_frames, sim_history),
    ):
        found += [f"{name}: {problem}" for problem in _ids(frames, history["prompt"][1])]
    real, sim = normalise_frames(real_frames), normalise_frames(sim_frames)
    for index in range(max(len(real), len(sim))):
        want = real[index] if index < len(real) else None
        got = sim[index] if index < len(sim) else None
        if want != got:
            found.append(f"frame {index}: real {want}, sim {got}")
            break
    want_history = normalise_history(real_history, graph)
    got_history = normalise_history(sim_history, graph)
    for key in want_history:
        if want_history[key] != got_history[key]:
            found.append(f"history {key}: real {want_history[key]}, sim {got_history[key]}")
    return found
