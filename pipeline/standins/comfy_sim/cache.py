"""ComfyUI's "classic" output cache: a node whose inputs are unchanged is not run again.

A node's key is its class_type, its ``IS_CHANGED`` value (for LoadImage/LoadAudio: the file's
hash; LoadVideo: its mtime), its node id if it takes ``UNIQUE_ID``, and its inputs with every
link replaced by the key of the linked node. Keys not used by the current prompt are dropped
when it starts, so results survive only from one prompt to the next one that still contains
them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.standins.comfy_sim.node_api import NodeResult


@dataclass(frozen=True)
class Entry:
    result: NodeResult
    meta: dict[str, Any]
    """``/history`` meta of the node that produced it (ids of that prompt)."""


IsChanged = Callable[[str, Mapping[str, Any]], object]
"""``(class_type, inputs) -> value``: a node whose value changes is never cached."""


class OutputCache:
    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._keys: dict[str, str] = {}

    def set_prompt(
        self, prompt: Mapping[str, Any], is_changed: IsChanged, with_id: Callable[[str], bool]
    ) -> None:
        """Compute the keys of ``prompt``'s nodes and forget entries it does not use."""
        keys: dict[str, str] = {}

        def key(node_id: Any, path: tuple[Any, ...]) -> str:
            if node_id in keys:
                return keys[node_id]
            node = prompt.get(node_id) if isinstance(node_id, str) else None
            if node is None or node_id in path:
                return f"uncachable:{uuid.uuid4()}"
            class_type = node["class_type"]
            inputs = node.get("inputs", {})
            parts: list[Any] = [class_type, repr(is_changed(class_type, inputs))]
            if with_id(class_type):
                parts.append(node_id)
            for name in sorted(inputs):
                value = inputs[name]
                if isinstance(value, list) and len(value) == 2:
                    value = ["link", key(value[0], (*path, node_id)), value[1]]
                parts.append([name, value])
            keys[node_id] = hashlib.sha256(json.dumps(parts, default=repr).encode()).hexdigest()
            return keys[node_id]

        for node_id in prompt:
            key(node_id, ())
        self._keys = keys
        used = set(keys.values())
        self._entries = {k: v for k, v in self._entries.items() if k in used}

    def get(self, node_id: str) -> Entry | None:
        return self._entries.get(self._keys.get(node_id, ""))

    def put(self, node_id: str, entry: Entry) -> None:
        self._entries[self._keys[node_id]] = entry

    def clear(self) -> None:
        self._entries.clear()
