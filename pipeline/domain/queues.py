"""GPU task queue names: one queue per model preset, one per GPU worker. Pure.

A GPU worker polls ``{prefix}.{preset}`` for every preset its ComfyUI can run, plus its
own ``{prefix}.worker.{identity}``; the session workflow sends a session's first GPU task
to the preset's queue and the rest to the worker that ran it (Temporal's worker-specific
task queue pattern, samples-python ``worker_specific_task_queues``). ``prefix`` is
``TEMPORAL_GPU_TASK_QUEUE``.
"""

from __future__ import annotations

WORKER_INFIX = ".worker."


def preset_queue(prefix: str, preset: str) -> str:
    """The queue every worker that serves ``preset`` polls, e.g. ``gpu.wan22-i2v-fp8``."""
    return f"{prefix}.{preset}"


def worker_queue(prefix: str, identity: str) -> str:
    """One worker's own queue, e.g. ``gpu.worker.4242@box-1``."""
    return f"{prefix}{WORKER_INFIX}{identity}"


def is_worker_queue(prefix: str, queue: str) -> bool:
    return queue.startswith(f"{prefix}{WORKER_INFIX}")
