"""The GPU fleet, below the activities that run on it.

- ``admission``: which of a GPU worker's task queues may poll, and its one GPU (``Admission``,
  ``GpuTurn``, ``QueueSlots``).
- ``capabilities``: what the worker's ComfyUI can serve now (presets, vocal separation).
- ``registry``: the worker records GPU workers announce and the CLI, ``doctor`` and ``status``
  read (``WorkerRecord``, ``live_workers``, ``pollers``).
- ``diagnose``: why a live GPU worker that serves a preset takes none of its work (stopped,
  ComfyUI not answering, session slots held, no poll though idle), for ``status`` and
  ``doctor``.
- ``sessions``: frees the slots of sessions that ended, whatever ended them
  (``watch_sessions``, ``release_ended``).

The processes that use them (``pipeline worker cpu|gpu``) live in ``pipeline.worker``.
"""
