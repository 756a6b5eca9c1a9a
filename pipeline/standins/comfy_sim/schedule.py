"""Which node runs next: ComfyUI's ``ExecutionList`` (a topological dissolve).

The order matters to clients only through message order, but mirroring it keeps transcripts
comparable: nodes are discovered depth-first from each output, cached nodes are not
scheduled, and among ready nodes an output node goes first, then a node feeding an output,
then one two steps from an output, else the first discovered.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any


class ExecutionOrder:
    def __init__(
        self,
        prompt: Mapping[str, Any],
        outputs: list[str],
        cached: Collection[str],
        is_output: Callable[[str], bool],
    ) -> None:
        self._prompt = prompt
        self._is_output = is_output
        self._pending: dict[str, int] = {}
        """Node id → how many pending nodes it waits for; insertion order is discovery order."""
        self._blocking: dict[str, set[str]] = {}
        links: list[tuple[str, str]] = []
        for output in outputs:
            stack = [output]
            while stack:
                node_id = stack.pop()
                if node_id in self._pending:
                    continue
                self._pending[node_id] = 0
                self._blocking[node_id] = set()
                for value in prompt[node_id]["inputs"].values():
                    if isinstance(value, list) and len(value) == 2 and value[0] not in cached:
                        stack.append(value[0])
                        links.append((value[0], node_id))
        for source, target in links:
            if target not in self._blocking[source]:
                self._blocking[source].add(target)
                self._pending[target] += 1

    def _output(self, node_id: str) -> bool:
        return self._is_output(self._prompt[node_id]["class_type"])

    def next(self) -> str | None:
        """The node to run now (``None`` when all ran); call ``done`` after running it."""
        ready = [n for n, waiting in self._pending.items() if waiting == 0]
        if not ready:
            return None
        for candidate in ready:
            if self._output(candidate):
                return candidate
        for candidate in ready:
            if any(self._output(t) for t in self._blocking[candidate]):
                return candidate
        for candidate in ready:
            if any(self._output(t2) for t in self._blocking[candidate] for t2 in self._blocking[t]):
                return candidate
        return ready[0]

    def done(self, node_id: str) -> None:
        del self._pending[node_id]
        for target in self._blocking.pop(node_id):
            self._pending[target] -= 1
