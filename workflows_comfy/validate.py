"""Check an API-format graph against ``/object_info`` exactly as ComfyUI's ``POST /prompt`` does.

This mirrors ``execution.validate_prompt`` / ``validate_inputs`` of ComfyUI 0.3.64 (commit
a125cd8, the contract server), down to error bodies, so comfy-sim answers like the real server
and a worker can refuse a bad graph before queueing it. Deliberate differences: V3 ``COMBO``
inputs (SaveVideo's ``format``/``codec``) are checked against their options as newer ComfyUI
does, and a link cycle is reported as ``dependency_cycle`` instead of overflowing the stack.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.domain.errors import GraphError
from workflows_comfy.object_info import is_output_node, node_info
from workflows_comfy.validate_inputs import Broken, NodeChecker, Tracebacks, error_body


@dataclass(frozen=True)
class GraphValidation:
    """What ComfyUI would answer to ``POST /prompt`` with this graph."""

    ok: bool
    """True if at least one output node is valid: ComfyUI queues the graph."""
    error: dict[str, Any] | None
    """The top-level ``error`` body when nothing can run."""
    node_errors: dict[str, Any]
    """Per-node errors in ComfyUI's shape; also set when ``ok`` (invalid outputs are skipped)."""
    outputs_to_execute: list[str]
    prompt: dict[str, Any] = field(default_factory=dict)
    """The graph with widget values converted (``"16"`` → ``16``) as ComfyUI queues it."""
    problems: tuple[str, ...] = ()
    """One human-readable sentence per problem found."""

    def raise_for_problems(self) -> None:
        """Raise ``GraphError`` if anything is wrong, even with a partially runnable graph."""
        if self.problems:
            raise GraphError(
                "; ".join(self.problems),
                detail={"error": self.error, "node_errors": self.node_errors},
            )


def _rejected(kind: str, message: str, details: str, problem: str) -> GraphValidation:
    body = error_body(kind, message, details, {})
    return GraphValidation(False, body, {}, [], problems=(problem,))


def validate_graph(
    graph: Mapping[str, Any],
    object_info: Mapping[str, Any],
    input_files: Collection[str] | None = None,
    *,
    tracebacks: Tracebacks | None = None,
) -> GraphValidation:
    """Validate ``graph`` like ComfyUI does on ``POST /prompt``.

    ``input_files`` are the names ``LoadImage``/``LoadAudio`` may use (``"name.png"``,
    ``"sub/name.png"``); ``None`` skips that check. ``tracebacks`` fills the ``traceback``
    lists of ``exception_during_(inner_)validation`` bodies (see ``Tracebacks``).
    """
    prompt = copy.deepcopy(dict(graph))
    outputs: list[str] = []
    for node_id, node in prompt.items():
        if not isinstance(node, Mapping) or "class_type" not in node:
            return _rejected(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.",
                f"Node ID '#{node_id}'",
                f"node {node_id} has no class_type",
            )
        class_type = node["class_type"]
        if node_info(object_info, class_type) is None:
            return _rejected(
                "invalid_prompt",
                f"Cannot execute because node {class_type} does not exist.",
                f"Node ID '#{node_id}'",
                f"node {node_id}: {class_type!r} is not a node the server has",
            )
        if is_output_node(object_info, class_type):
            outputs.append(node_id)
    if not outputs:
        return _rejected(
            "prompt_no_outputs",
            "Prompt has no outputs",
            "",
            "the graph has no output node (SaveVideo, SaveImage...), so nothing would run",
        )

    check = NodeChecker(prompt, object_info, input_files, tracebacks)
    good: list[str] = []
    failed: list[tuple[str, list[dict[str, Any]]]] = []
    node_errors: dict[str, Any] = {}
    for output in outputs:
        try:
            valid, reasons = check.node(output)
        except Broken as broken:
            valid, reasons = (
                False,
                [
                    error_body(
                        "exception_during_validation",
                        "Exception when validating node",
                        str(broken),
                        {
                            "exception_type": broken.type_name,
                            "traceback": check.traceback("outer_call", broken),
                        },
                    )
                ],
            )
            check.validated[output] = (False, reasons)
        if valid:
            good.append(output)
            continue
        failed.append((output, reasons))
        # As in ComfyUI: every node with errors so far is charged to this output.
        for node_id, (node_ok, node_reasons) in check.validated.items():
            if node_ok or not node_reasons:
                continue
            entry = node_errors.setdefault(
                node_id,
                {
                    "errors": node_reasons,
                    "dependent_outputs": [],
                    "class_type": prompt[node_id]["class_type"],
                },
            )
            entry["dependent_outputs"].append(output)

    problems = tuple(check.problems)
    if not good:
        details = "\n".join(f"{e['message']}: {e['details']}" for _, errs in failed for e in errs)
        error = error_body(
            "prompt_outputs_failed_validation", "Prompt outputs failed validation", details, {}
        )
        return GraphValidation(False, error, node_errors, [], prompt, problems)
    return GraphValidation(True, None, node_errors, good, prompt, problems)
