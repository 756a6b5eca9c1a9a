"""The contract between comfy-sim's executor and its node evaluators.

An evaluator is ``async (ctx, inputs) -> NodeResult``: ``inputs`` holds the node's widget
values and, for links, the upstream outputs. It raises ``NodeFailure`` to fail the way the
real node would (execution_error), and ``ctx.report`` raises ``Interrupted`` after
``POST /interrupt``, like ComfyUI's progress hook.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

from pipeline.standins.comfy_sim.faults import Fault
from pipeline.standins.comfy_sim.paths import DataDirs

Report = Callable[[int, int, Image.Image | None], Awaitable[None]]


class Interrupted(Exception):
    """``comfy.model_management.InterruptProcessingException``."""


class NodeFailure(Exception):
    """An exception as the real node raises it: ``exception_type`` is its full type name."""

    def __init__(
        self, message: str, *, exception_type: str, frames: tuple[str, ...] = (), oom: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exception_type = exception_type
        self.frames = frames
        """The node's own traceback entries (after ComfyUI's execution.py ones)."""
        self.oom = oom
        """ComfyUI appends its out-of-memory tips for ``torch.OutOfMemoryError``."""


@dataclass(frozen=True)
class NodeResult:
    outputs: tuple[Any, ...] = ()
    ui: dict[str, Any] | None = None
    """What ``executed`` and ``/history`` show; only output nodes have one."""


@dataclass(frozen=True)
class NodeContext:
    node_id: str
    class_type: str
    output_types: tuple[str, ...]
    dirs: DataDirs
    step_delay: float
    report: Report
    """``(value, max, preview)``: send progress; raises ``Interrupted`` when asked to stop."""
    prompt: Mapping[str, Any]
    """The whole graph being run (``SaveVideo`` stores it as the file's ``prompt`` tag)."""
    silence_s: float = 0.0
    """Seconds this node works without sending anything (``SimConfig.text_encode_s`` and
    ``model_load_s``)."""
    defect: Fault | None = None
    """The prompt's defect (``faults.DEFECTS``) if this node's frames are to be spoiled."""

    async def steps(
        self, total: int, preview: Image.Image | None = None, *, of: int | None = None
    ) -> None:
        """Simulate ``total`` sampling steps of ``step_delay`` seconds each, with progress
        reported against ``of`` (default ``total``), as a node with its own estimate does."""
        for step in range(total):
            await asyncio.sleep(self.step_delay)
            await self.report(step + 1, total if of is None else of, preview)


Evaluator = Callable[[NodeContext, dict[str, Any]], Awaitable[NodeResult]]
