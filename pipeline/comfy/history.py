"""``GET /history/{prompt_id}`` records: the source of truth for how a prompt ended.

A prompt appears in history only once it has finished, so a record's presence means done.
Failed and interrupted prompts have ``status_str "error"`` and no outputs; their cause is
the last ``execution_error`` / ``execution_interrupted`` in ``status.messages``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.comfy.fields import obj, opt_str
from pipeline.comfy.messages import ExecutionError, ExecutionInterrupted, Message, parse_data
from pipeline.domain.errors import (
    ComfyError,
    ExecutionFailed,
    Interrupted,
    MessageError,
    NodeInputRejected,
    OutOfMemory,
)


@dataclass(frozen=True)
class OutputFile:
    """A file a node wrote, addressable through ``GET /view``."""

    node_id: str
    filename: str
    subfolder: str
    type: str
    """``output``, ``temp`` (previews) or ``input``."""
    animated: bool = False
    """Core ``SaveVideo`` marks its video this way (it lists it under ``images``)."""


@dataclass(frozen=True)
class HistoryEntry:
    prompt_id: str
    status_str: str | None
    completed: bool
    outputs: dict[str, dict[str, Any]]
    messages: tuple[Message, ...]
    execution_s: float | None = None
    """Seconds from ``execution_start`` to the message that ended the prompt, from the
    ``timestamp`` (ms since the epoch) ComfyUI puts on every ``status.messages`` item
    (``execution.py``, ``PromptExecutor.add_message``); None where the record has none."""

    @property
    def succeeded(self) -> bool:
        return self.status_str == "success"

    def output_files(self) -> list[OutputFile]:
        """Every file in the outputs: ``images`` (SaveImage, SaveVideo), ``gifs`` (VHS), ...

        Any UI key holding ``{filename, subfolder, type}`` items counts, so audio and
        other packs' outputs are listed too.
        """
        files: list[OutputFile] = []
        for node_id, ui in self.outputs.items():
            animated = ui.get("animated")
            flags = animated if isinstance(animated, list) else []
            for key, items in ui.items():
                if key == "animated" or not isinstance(items, list):
                    continue
                for index, item in enumerate(items):
                    if isinstance(item, dict) and isinstance(item.get("filename"), str):
                        files.append(
                            OutputFile(
                                node_id=node_id,
                                filename=item["filename"],
                                subfolder=opt_str(item, "subfolder") or "",
                                type=opt_str(item, "type") or "output",
                                animated=key == "images"
                                and bool(flags[index] if index < len(flags) else False),
                            )
                        )
        return files

    def failure(self) -> ExecutionError | ExecutionInterrupted | None:
        """Why the prompt did not succeed, if the record says."""
        for message in reversed(self.messages):
            if isinstance(message, ExecutionError | ExecutionInterrupted):
                return message
        return None


def parse_history(body: Any, prompt_id: str) -> HistoryEntry | None:
    """The record for ``prompt_id`` in a ``/history`` body; None while it has not finished."""
    records = obj(body, "history")
    if prompt_id not in records:
        return None
    record = obj(records[prompt_id], f"history[{prompt_id}]")
    status = obj(record.get("status") or {}, "status")
    raw_messages = status.get("messages") or []
    if not isinstance(raw_messages, list):
        raise MessageError("status.messages must be a list")
    messages: list[Message] = []
    stamps: list[float] = []
    for pair in raw_messages:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise MessageError(f"status.messages item {pair!r} is not [event, data]")
        data = obj(pair[1], pair[0])
        messages.append(parse_data(pair[0], data))
        stamp = data.get("timestamp")
        if isinstance(stamp, int | float) and not isinstance(stamp, bool):
            stamps.append(float(stamp))
    outputs = obj(record.get("outputs") or {}, "outputs")
    return HistoryEntry(
        prompt_id=prompt_id,
        status_str=opt_str(status, "status_str"),
        completed=status.get("completed") is True,
        outputs={node: obj(ui, f"outputs[{node}]") for node, ui in outputs.items()},
        messages=tuple(messages),
        execution_s=(stamps[-1] - stamps[0]) / 1000 if len(stamps) >= 2 else None,
    )


def failure_error(entry: HistoryEntry, seen: Message | None = None) -> ComfyError:
    """The pipeline error for a prompt that did not succeed.

    ``seen`` is the socket's terminal message, used when the record has no cause. Out of
    memory is recognised by ``exception_type`` (``torch.OutOfMemoryError``), never the text;
    so is a node refusing its inputs (``ValueError``: ``NodeInputRejected``, not retried).
    """
    cause = entry.failure()
    if cause is None and isinstance(seen, ExecutionError | ExecutionInterrupted):
        cause = seen
    prompt_id = entry.prompt_id
    detail: dict[str, object] = {"prompt_id": prompt_id, "status": entry.status_str}
    if isinstance(cause, ExecutionInterrupted):
        detail.update(node_id=cause.node_id, node_type=cause.node_type)
        return Interrupted(
            f"prompt {prompt_id} was interrupted at node {cause.node_id} ({cause.node_type})",
            detail=detail,
        )
    if isinstance(cause, ExecutionError):
        detail.update(
            node_id=cause.node_id,
            node_type=cause.node_type,
            exception_type=cause.exception_type,
            exception_message=cause.exception_message,
        )
        where = f"node {cause.node_id} ({cause.node_type})"
        text = cause.exception_message.strip()
        if "OutOfMemory" in cause.exception_type:
            return OutOfMemory(f"{where} ran out of GPU memory: {text}", detail=detail)
        if cause.exception_type == "ValueError":
            return NodeInputRejected(f"{where} rejected its inputs: {text}", detail=detail)
        return ExecutionFailed(f"{where} raised {cause.exception_type}: {text}", detail=detail)
    return ExecutionFailed(
        f"prompt {prompt_id} ended with status {entry.status_str!r} and no error message",
        detail=detail,
    )
