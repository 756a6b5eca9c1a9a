"""GPU task queue names: per model preset, per preset for vocal separation, per GPU worker. Pure.

A GPU worker polls ``{prefix}.{preset}`` for every preset its ComfyUI can run, the same
preset's ``{prefix}.{preset}.separation`` when it can also separate vocals (a Demucs model
is configured), plus its own ``{prefix}.worker.{identity}``. The session workflow sends a
session's first GPU task to one of the preset's queues (separation first, when the
manifest asks for it, so only a worker that can separate takes it) and the rest to the
worker that ran it (Temporal's worker-specific task queue pattern, samples-python
``worker_specific_task_queues``). ``prefix`` is ``TEMPORAL_GPU_TASK_QUEUE``.
"""

from __future__ import annotations

from collections.abc import Iterable

WORKER_INFIX = ".worker."
SEPARATION_SUFFIX = ".separation"


def preset_queue(prefix: str, preset: str) -> str:
    """The queue every worker that serves ``preset`` polls, e.g. ``gpu.wan22-i2v-fp8``."""
    return f"{prefix}.{preset}"


def separation_queue(prefix: str, preset: str) -> str:
    """The queue of workers that serve ``preset`` and can separate vocals, e.g.
    ``gpu.wan22-s2v-fp8.separation``."""
    return f"{preset_queue(prefix, preset)}{SEPARATION_SUFFIX}"


def polled_queues(prefix: str, presets: Iterable[str], *, separates: bool) -> list[str]:
    """The shared queues a worker polls that serves ``presets`` (and ``separates`` vocals)."""
    names = sorted(presets)
    queues = [preset_queue(prefix, name) for name in names]
    if separates:
        queues += [separation_queue(prefix, name) for name in names]
    return sorted(queues)


def worker_queue(prefix: str, identity: str) -> str:
    """One worker's own queue, e.g. ``gpu.worker.4242@box-1``."""
    return f"{prefix}{WORKER_INFIX}{identity}"


def is_worker_queue(prefix: str, queue: str) -> bool:
    return queue.startswith(f"{prefix}{WORKER_INFIX}")


def is_separation_queue(queue: str) -> bool:
    return queue.endswith(SEPARATION_SUFFIX)
