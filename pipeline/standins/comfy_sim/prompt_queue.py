"""Pending prompts, the running one and ``/history``: ComfyUI's ``PromptQueue``.

An item is ``[number, prompt_id, prompt, extra_data, outputs_to_execute]``; pending items are
a heap on ``number``, which is why ``"front": true`` (a negative number) jumps the queue and
``/queue`` lists pending items unsorted.
"""

from __future__ import annotations

import asyncio
import copy
import heapq
from collections.abc import Callable
from typing import Any

Item = tuple[float, str, dict[str, Any], dict[str, Any], list[str]]
MAXIMUM_HISTORY_SIZE = 10000


class PromptQueue:
    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        """Broadcasts ``status``; called on every change of the queue, like ComfyUI."""
        self._pending: list[Item] = []
        self._running: dict[int, Item] = {}
        self._history: dict[str, dict[str, Any]] = {}
        self._tasks = 0
        self._not_empty = asyncio.Event()

    def put(self, item: Item) -> None:
        heapq.heappush(self._pending, item)
        self._not_empty.set()
        self._on_change()

    async def get(self) -> tuple[Item, int]:
        while not self._pending:
            self._not_empty.clear()
            await self._not_empty.wait()
        item = heapq.heappop(self._pending)
        task = self._tasks
        self._tasks += 1
        self._running[task] = copy.deepcopy(item)
        self._on_change()
        return item, task

    def task_done(self, task: int, result: dict[str, Any], status: dict[str, Any]) -> None:
        item = self._running.pop(task)
        if len(self._history) > MAXIMUM_HISTORY_SIZE:
            self._history.pop(next(iter(self._history)))
        self._history[item[1]] = {"prompt": list(item), "outputs": {}, "status": status, **result}
        self._on_change()

    @property
    def remaining(self) -> int:
        return len(self._pending) + len(self._running)

    @property
    def running(self) -> list[Item]:
        return list(self._running.values())

    @property
    def pending(self) -> list[Item]:
        return list(self._pending)

    def wipe(self) -> None:
        self._pending = []
        self._on_change()

    def delete(self, prompt_id: object) -> None:
        for index, item in enumerate(self._pending):
            if item[1] == prompt_id:
                if len(self._pending) == 1:
                    self.wipe()  # ComfyUI then reports the change a second time.
                else:
                    self._pending.pop(index)
                    heapq.heapify(self._pending)
                self._on_change()
                return

    def history(
        self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1
    ) -> dict[str, Any]:
        if prompt_id is not None:
            entry = self._history.get(prompt_id)
            return {prompt_id: copy.deepcopy(entry)} if entry is not None else {}
        if offset < 0 and max_items is not None:
            offset = len(self._history) - max_items
        out: dict[str, Any] = {}
        for index, (key, entry) in enumerate(self._history.items()):
            if index >= offset:
                out[key] = entry
                if max_items is not None and len(out) >= max_items:
                    break
        return out

    def delete_history(self, prompt_id: object) -> None:
        if isinstance(prompt_id, str):
            self._history.pop(prompt_id, None)

    def wipe_history(self) -> None:
        self._history.clear()
