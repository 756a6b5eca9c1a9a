"""Per-prompt node progress, sent as ``progress_state`` like ``comfy_execution.progress``.

Every change sends the state of all non-pending nodes seen so far. A node started by the
executor reports ``0.0/1.0`` (floats), one only finished (a cached output) ``1/1`` (ints):
the real server does the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SendState = Callable[[dict[str, Any]], None]


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
