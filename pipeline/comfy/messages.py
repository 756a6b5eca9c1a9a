"""ComfyUI WebSocket messages, typed: one class per message type.

Text frames are ``{"type": ..., "data": {...}}``; types this module does not know become
``Unknown`` so a newer server cannot break a client. Binary frames start with a big-endian
u32 event type: 1 is a preview (u32 image format, then the image), 4 is a preview with a
JSON metadata block (u32 length, JSON, image). Other binary types become ``UnknownBinary``.
See ``tests/data/comfyui_contract/README.md`` ("Protocol notes") for the observed order.
"""

from __future__ import annotations

import json
import struct
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


PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
_IMAGE_FORMATS = {1: "image/jpeg", 2: "image/png"}


@dataclass(frozen=True)
class PreviewFrame:
    """A sampler preview. Only type 4 frames say which prompt and node they belong to."""

    event_type: int
    image_type: str
    image: bytes
    prompt_id: str | None = None
    node_id: str | None = None


@dataclass(frozen=True)
class UnknownBinary:
    event_type: int
    payload: bytes


def parse_binary(data: bytes) -> PreviewFrame | UnknownBinary:
    """Parse one binary frame; ``MessageError`` if it is too short for its header."""
    if len(data) < 4:
        raise MessageError(f"binary frame of {len(data)} bytes has no event type")
    (event_type,) = struct.unpack_from(">I", data)
    if event_type == PREVIEW_IMAGE:
        if len(data) < 8:
            raise MessageError("preview frame has no image format")
        (image_format,) = struct.unpack_from(">I", data, 4)
        return PreviewFrame(
            event_type, _IMAGE_FORMATS.get(image_format, "application/octet-stream"), data[8:]
        )
    if event_type == PREVIEW_IMAGE_WITH_METADATA:
        if len(data) < 8:
            raise MessageError("preview frame has no metadata length")
        (length,) = struct.unpack_from(">I", data, 4)
        if len(data) < 8 + length:
            raise MessageError(f"preview metadata of {length} bytes overruns the frame")
        try:
            meta = obj(json.loads(data[8 : 8 + length]), "preview metadata")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MessageError(f"preview metadata is not JSON: {exc}") from None
        return PreviewFrame(
            event_type,
            opt_str(meta, "image_type") or "application/octet-stream",
            data[8 + length :],
            opt_str(meta, "prompt_id"),
            opt_str(meta, "node_id"),
        )
    return UnknownBinary(event_type, data[4:])
