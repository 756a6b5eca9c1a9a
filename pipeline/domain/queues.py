"""GPU task queue names: per model preset, per preset for vocal separation, per GPU worker. Pure.

A GPU worker polls ``{prefix}.{preset}`` for every preset its ComfyUI can run, the same
preset's ``{prefix}.{preset}.separation`` when it can also separate vocals (a Demucs model
is configured), plus its own ``{prefix}.worker.{name}``. The session workflow sends a
session's first GPU task to one of the preset's queues (separation first, when the
manifest asks for it, so only a worker that can separate takes it) and the rest to the
worker that ran it (Temporal's worker-specific task queue pattern, samples-python
``worker_specific_task_queues``). ``prefix`` is ``TEMPORAL_GPU_TASK_QUEUE``.

A worker's name outlives its process: it names the ComfyUI (host and port) whose loaded
models make the session's next task cheap there, not the process (Temporal's ``pid@host``
identity), so a worker restarted beside the same ComfyUI (a crash under the supervisor,
``pipeline down`` and ``up``) takes back its sessions' tasks at once instead of leaving
them until ``STICKY_SCHEDULE_TO_START_S`` sends them back to the preset's queue.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

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


_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def worker_name(hostname: str, comfy_url: str) -> str:
    """A GPU worker's default name: its host and its ComfyUI's host and port, e.g.
    ``box-1.127.0.0.1-8188`` for ``http://127.0.0.1:8188`` (``GPU_WORKER_NAME`` overrides).

    Characters other than letters, digits, ``.``, ``_`` and ``-`` become ``-``.
    """
    url = urlsplit(comfy_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    return _NOT_IN_NAME.sub("-", f"{hostname}.{url.hostname or ''}-{port}").strip("-")


def worker_queue(prefix: str, name: str) -> str:
    """One worker's own queue, e.g. ``gpu.worker.box-1.127.0.0.1-8188``."""
    return f"{prefix}{WORKER_INFIX}{name}"


def is_worker_queue(prefix: str, queue: str) -> bool:
    return queue.startswith(f"{prefix}{WORKER_INFIX}")


def is_separation_queue(queue: str) -> bool:
    return queue.endswith(SEPARATION_SUFFIX)
