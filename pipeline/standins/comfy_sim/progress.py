"""Per-prompt node progress, sent as ``progress_state`` like ``comfy_execution.progress``,
and the throttle of ``comfy.utils.ProgressBar`` that decides which steps are reported.

Every change sends the state of all non-pending nodes seen so far. A node started by the
executor reports ``0.0/1.0`` (floats), one only finished (a cached output) ``1/1`` (ints):
the real server does the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SendState = Callable[[dict[str, Any]], None]

THROTTLE_MIN_INTERVAL_S = 0.1
"""``PROGRESS_THROTTLE_MIN_INTERVAL`` (ComfyUI 0.33.0 comfy/utils.py)."""
THROTTLE_MIN_PERCENT = 0.5
"""``PROGRESS_THROTTLE_MIN_PERCENT``: of the bar's total."""


class Throttle:
    """One node's ``ProgressBar.update_absolute`` gate (ComfyUI 0.33.0 comfy/utils.py).

    A step is reported (``progress_state`` + ``progress`` + preview) if it is the first one,
    the last one (``value >= total``) or carries a preview; otherwise only if at least
    ``THROTTLE_MIN_INTERVAL_S`` passed since the last reported one *and* the value moved by at
    least ``THROTTLE_MIN_PERCENT`` % of ``total``. A 4- or 6-step sampler thus reports 2 steps.
    """

    def __init__(self) -> None:
        self._last_time = 0.0
        self._last_value = -1.0

    def due(self, value: float, total: float, now: float, *, preview: bool = False) -> bool:
        """Whether step ``value`` of ``total`` is sent at ``now`` (monotonic seconds)."""
        value = min(value, total)
        if preview or self._last_value < 0 or value >= total:
            send = True
        else:
            changed = (value - max(0.0, self._last_value)) / total * 100 if total > 0 else 100
            waited = now - self._last_time >= THROTTLE_MIN_INTERVAL_S
            send = waited and changed >= THROTTLE_MIN_PERCENT
        if send:
            self._last_time, self._last_value = now, value
        return send


class Progress:
    def __init__(self, prompt_id: str, send: SendState) -> None:
        self._prompt_id = prompt_id
        self._send = send
        self._nodes: dict[str, dict[str, Any]] = {}

    def _entry(self, node_id: str) -> dict[str, Any]:
        return self._nodes.setdefault(node_id, {"value": 0, "max": 1, "state": "pending"})

    def _publish(self) -> None:
        nodes = {
            node_id: {
                "value": entry["value"],
                "max": entry["max"],
                "state": entry["state"],
                "node_id": node_id,
                "prompt_id": self._prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
            }
            for node_id, entry in self._nodes.items()
            if entry["state"] != "pending"
        }
        self._send({"prompt_id": self._prompt_id, "nodes": nodes})

    def start(self, node_id: str) -> None:
        self._entry(node_id).update(state="running", value=0.0, max=1.0)
        self._publish()

    def update(self, node_id: str, value: float, maximum: float) -> None:
        self._entry(node_id).update(state="running", value=value, max=maximum)
        self._publish()

    def finish(self, node_id: str) -> None:
        entry = self._entry(node_id)
        entry.update(state="finished", value=entry["max"])
        self._publish()
