"""ComfyUI WebSocket messages, typed: one class per message type.

Text frames are ``{"type": ..., "data": {...}}``; types this module does not know become
``Unknown`` so a newer server cannot break a client. Binary frames (sampler previews) are
not parsed: nothing in a run's outcome depends on them, so ``pipeline/comfy/watch.py`` skips
them.
See ``tests/data/comfyui_contract/README.md`` ("Protocol notes") for the observed order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipeline.comfy.fields import num, obj, opt_str, req_str, str_list
from pipeline.domain.errors import MessageError


@dataclass(frozen=True)
class Status:
    """Queue size. The connect message carries ``sid`` (our clientId); later ones are broadcast."""

    queue_remaining: int | None
    sid: str | None


@dataclass(frozen=True)
class FeatureFlags:
    flags: dict[str, Any]


@dataclass(frozen=True)
class ExecutionStart:
    prompt_id: str


@dataclass(frozen=True)
class ExecutionCached:
    prompt_id: str
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class Executing:
    """A node started; ``node`` None means the prompt is finished, whatever the outcome."""

    prompt_id: str | None
    node: str | None
    display_node: str | None


@dataclass(frozen=True)
class NodeProgress:
    """The ``progress`` message: one ProgressBar update of one node."""

    prompt_id: str | None
    node: str | None
    value: float
    max: float


@dataclass(frozen=True)
class NodeState:
    node_id: str
    value: float
    max: float
    state: str
    """``running``, ``finished`` or ``error``."""


@dataclass(frozen=True)
class ProgressState:
    prompt_id: str
    nodes: dict[str, NodeState]


@dataclass(frozen=True)
class Executed:
    """A node with UI output finished (sent for cached output nodes too)."""

    prompt_id: str
    node: str
    output: dict[str, Any]


@dataclass(frozen=True)
class ExecutionSuccess:
    prompt_id: str


@dataclass(frozen=True)
class ExecutionError:
    prompt_id: str
    node_id: str
    node_type: str
    exception_type: str
    exception_message: str
    traceback: tuple[str, ...]


@dataclass(frozen=True)
class ExecutionInterrupted:
    prompt_id: str
    node_id: str | None
    node_type: str | None


@dataclass(frozen=True)
class Unknown:
    type: str
    data: Any


Message = (
    Status
    | FeatureFlags
    | ExecutionStart
    | ExecutionCached
    | Executing
    | NodeProgress
    | ProgressState
    | Executed
    | ExecutionSuccess
    | ExecutionError
    | ExecutionInterrupted
    | Unknown
)

TERMINAL = (ExecutionSuccess, ExecutionError, ExecutionInterrupted)
"""Messages that end a prompt (``Executing`` with node None ends it too)."""


def _node_state(node_id: str, raw: Any) -> NodeState:
    data = obj(raw, f"progress_state.nodes.{node_id}")
    return NodeState(node_id, num(data, "value"), num(data, "max"), req_str(data, "state"))


def parse_data(kind: str, data: dict[str, Any]) -> Message:
    """The message of type ``kind``; also parses ``[event, data]`` pairs of /history."""
    match kind:
        case "status":
            exec_info = obj(obj(data.get("status", {}), "status").get("exec_info", {}), "exec_info")
            remaining = exec_info.get("queue_remaining")
            return Status(remaining if isinstance(remaining, int) else None, opt_str(data, "sid"))
        case "feature_flags":
            return FeatureFlags(dict(data))
        case "execution_start":
            return ExecutionStart(req_str(data, "prompt_id"))
        case "execution_cached":
            return ExecutionCached(req_str(data, "prompt_id"), str_list(data, "nodes"))
        case "executing":
            return Executing(
                opt_str(data, "prompt_id"), opt_str(data, "node"), opt_str(data, "display_node")
            )
        case "progress":
            return NodeProgress(
                opt_str(data, "prompt_id"),
                opt_str(data, "node"),
                num(data, "value"),
                num(data, "max"),
            )
        case "progress_state":
            nodes = obj(data.get("nodes", {}), "nodes")
            return ProgressState(
                req_str(data, "prompt_id"), {k: _node_state(k, v) for k, v in nodes.items()}
            )
        case "executed":
            return Executed(
                req_str(data, "prompt_id"),
                req_str(data, "node"),
                dict(obj(data.get("output") or {}, "output")),
            )
        case "execution_success":
            return ExecutionSuccess(req_str(data, "prompt_id"))
        case "execution_error":
            return ExecutionError(
                req_str(data, "prompt_id"),
                req_str(data, "node_id"),
                req_str(data, "node_type"),
                opt_str(data, "exception_type") or "",
                opt_str(data, "exception_message") or "",
                str_list(data, "traceback"),
            )
        case "execution_interrupted":
            return ExecutionInterrupted(
                req_str(data, "prompt_id"), opt_str(data, "node_id"), opt_str(data, "node_type")
            )
        case _:
            return Unknown(kind, data)


def parse_text(raw: str) -> Message:
    """Parse one text frame; ``MessageError`` if it is not a ComfyUI message at all."""
    try:
        frame = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise MessageError(f"text frame is not JSON: {exc}") from None
    frame = obj(frame, "frame")
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise MessageError("text frame has no string 'type'")
    data = frame.get("data")
    if not isinstance(data, dict):
        return Unknown(kind, data)
    return parse_data(kind, data)
