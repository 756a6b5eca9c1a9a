"""Runs queued prompts one at a time and reports like ComfyUI's ``PromptExecutor``.

Per prompt: ``execution_start``, ``execution_cached``, then per node ``progress_state`` →
``executing`` → (``progress``...) → ``executed`` (nodes with UI output) → ``progress_state``,
then ``execution_success`` (or ``execution_error`` / ``execution_interrupted``), the ``status``
broadcast and a final ``executing`` with node ``null``. Everything addressed to the submitting
client goes nowhere when the prompt had no ``client_id``; ``progress``/``progress_state`` are
then broadcast, as on the real server. A prompt that takes a defect (``faults.DEFECTS``) keys
its ``VAEDecode`` apart in the cache (and so everything fed by it): its spoiled frames never
replay a clean result, nor a clean prompt after it the spoiled ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from pipeline.standins.comfy_sim.cache import OutputCache
from pipeline.standins.comfy_sim.faults import DEFECT_NODE, FaultQueue
from pipeline.standins.comfy_sim.hub import Hub
from pipeline.standins.comfy_sim.paths import DataDirs
from pipeline.standins.comfy_sim.prompt_queue import Item, PromptQueue
from pipeline.standins.comfy_sim.prompt_run import PromptRun
from pipeline.standins.comfy_sim.schedule import ExecutionOrder
from workflows_comfy.object_info import hidden_inputs, is_output_node

log = logging.getLogger(__name__)


class Executor:
    def __init__(
        self,
        queue: PromptQueue,
        hub: Hub,
        dirs: DataDirs,
        object_info: Mapping[str, Any],
        step_delay: float,
        text_encode_s: float = 0.0,
        model_load_s: float = 0.0,
    ) -> None:
        self.queue, self.hub, self.dirs = queue, hub, dirs
        self.object_info = object_info
        self.step_delay = step_delay
        self.text_encode_s, self.model_load_s = text_encode_s, model_load_s
        self.cache = OutputCache()
        self.faults = FaultQueue()
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self._interrupted = asyncio.Event()
        self._busy = False
        self._free_after_prompt = False

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()

    def interrupt(self) -> None:
        self._interrupted.set()

    async def until_interrupted(self) -> None:
        await self._interrupted.wait()

    def free_memory(self) -> None:
        """Drop cached results now, or after the running prompt."""
        if self._busy:
            self._free_after_prompt = True
        else:
            self.cache.clear()

    def on_connect(self, sid: str) -> None:
        if sid == self.client_id and self.last_node_id is not None:
            self.hub.send("executing", {"node": self.last_node_id}, sid)

    async def run_forever(self) -> None:
        while True:
            item, task = await self.queue.get()
            self._busy = True
            try:
                result, status = await self._execute(item)
            except Exception:
                # A sim bug must not stop the queue; the prompt ends as failed in /history.
                log.exception("comfy-sim failed to execute %s", item[1])
                result = {"outputs": {}, "meta": {}}
                status = {"status_str": "error", "completed": False, "messages": []}
            self.queue.task_done(task, result, status)
            if self.client_id is not None:
                self.hub.send("executing", {"node": None, "prompt_id": item[1]}, self.client_id)
            self._busy = False
            if self._free_after_prompt:
                self._free_after_prompt = False
                self.cache.clear()

    def _is_changed(self, class_type: str, inputs: Mapping[str, Any]) -> object:
        field = {"LoadImage": "image", "LoadAudio": "audio", "LoadVideo": "file"}.get(class_type)
        name = inputs.get(field or "")
        if not isinstance(name, str):
            return None
        path = self.dirs.input_path(name)
        if not path.is_file():
            return None
        if class_type == "LoadVideo":
            # ComfyUI's LoadVideo.fingerprint_inputs: the file's mtime, not a hash.
            return path.stat().st_mtime
        return hashlib.sha256(path.read_bytes()).hexdigest()

    async def _execute(self, item: Item) -> tuple[dict[str, Any], dict[str, Any]]:
        _, prompt_id, prompt, extra, outputs = item
        self._interrupted.clear()
        self.client_id = extra.get("client_id")
        run = PromptRun(self, prompt_id, prompt, self.faults.take())
        run.message("execution_start", {"prompt_id": prompt_id}, broadcast=False)
        defect = run.defect.to_json() if run.defect is not None else None

        def is_changed(class_type: str, inputs: Mapping[str, Any]) -> object:
            # A spoiled decode is keyed apart: it neither replays a clean result nor is
            # replayed to a later prompt.
            changed = self._is_changed(class_type, inputs)
            return [changed, defect] if defect and class_type == DEFECT_NODE else changed

        self.cache.set_prompt(
            prompt,
            is_changed,
            lambda class_type: "UNIQUE_ID" in hidden_inputs(self.object_info, class_type),
        )
        cached = [node_id for node_id in prompt if self.cache.get(node_id) is not None]
        run.message("execution_cached", {"nodes": cached, "prompt_id": prompt_id}, broadcast=False)
        order = ExecutionOrder(
            prompt, outputs, cached, lambda class_type: is_output_node(self.object_info, class_type)
        )
        success = True
        while (node_id := order.next()) is not None:
            if not await run.node(node_id):
                success = False
                break
            order.done(node_id)
        else:
            run.message("execution_success", {"prompt_id": prompt_id}, broadcast=False)
        self.last_node_id = None
        ui: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        for node_id in prompt:
            entry = self.cache.get(node_id)
            if entry is not None and entry.result.ui is not None:
                ui[node_id], meta[node_id] = entry.result.ui, entry.meta
        status = {
            "status_str": "success" if success else "error",
            "completed": success,
            "messages": run.messages,
        }
        return {"outputs": ui, "meta": meta}, status
