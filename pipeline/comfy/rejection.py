"""``POST /prompt`` rejections in words a person can act on.

The body is ``{"error": {type, message, details}, "node_errors": {node_id: {class_type,
errors: [{type, message, details, extra_info: {input_name, ...}}]}}}``; unknown classes
leave ``node_errors`` empty and put the node in ``error.details``.
"""

from __future__ import annotations

from typing import Any

_MAX_DETAILS = 200
"""``value_not_in_list`` details repeat the whole combo list; the start is enough."""


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_DETAILS else text[: _MAX_DETAILS - 1] + "…"


def _node_problems(node_id: str, node: Any) -> list[str]:
    if not isinstance(node, dict):
        return [f"node {node_id}: {node!r}"]
    where = f"node {node_id} ({node.get('class_type', '?')})"
    problems: list[str] = []
    for error in node.get("errors") or []:
        if not isinstance(error, dict):
            continue
        extra = error.get("extra_info")
        input_name = extra.get("input_name") if isinstance(extra, dict) else None
        text = where + (f" input {input_name!r}" if input_name else "")
        text += f": {error.get('message') or error.get('type') or 'invalid'}"
        details = error.get("details")
        if details and details != input_name:
            text += f" ({_clip(str(details))})"
        problems.append(text)
    return problems or [f"{where}: invalid"]


def describe_rejection(answer: Any, raw_text: str) -> str:
    """One line naming every node and input ComfyUI refused, and why."""
    if not isinstance(answer, dict):
        return f"ComfyUI rejected the graph: {_clip(' '.join(raw_text.split())) or 'no details'}"
    parts: list[str] = []
    error = answer.get("error")
    if isinstance(error, dict):
        head = str(error.get("message") or error.get("type") or "invalid prompt")
        details = error.get("details")
        parts.append(head + (f" ({_clip(str(details))})" if details and details != head else ""))
    elif isinstance(error, str):
        parts.append(error)
    node_errors = answer.get("node_errors")
    if isinstance(node_errors, dict):
        for node_id, node in node_errors.items():
            parts.extend(_node_problems(str(node_id), node))
    return "ComfyUI rejected the graph: " + ("; ".join(parts) or "no details")
