"""One prompt's execution: per-node messages, progress, previews and failures.

Message order per node follows ComfyUI: ``progress_state`` (running) → ``executing`` →
``progress_state``/``progress`` (+ preview) per step → ``executed`` (UI nodes) →
``progress_state`` (finished). A failing node ends the prompt with ``execution_error`` (or
``execution_interrupted``), carrying the fields the real server sends.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import time
import traceback
from collections.abc import Mapping
from typing import Any, Protocol

from PIL import Image, ImageOps

from pipeline.standins.comfy_sim.cache import Entry, OutputCache
from pipeline.standins.comfy_sim.faults import DEFECT_NODE, DEFECTS, NODE_FAULTS, Fault, FaultKind
from pipeline.standins.comfy_sim.hub import PREVIEW_IMAGE, PREVIEW_IMAGE_WITH_METADATA, Hub
from pipeline.standins.comfy_sim.node_api import Interrupted, NodeContext, NodeFailure, NodeResult
from pipeline.standins.comfy_sim.nodes import MODEL_LOADERS, NODES, TEXT_ENCODERS
from pipeline.standins.comfy_sim.paths import DataDirs
from pipeline.standins.comfy_sim.progress import Progress, Throttle
from workflows_comfy.object_info import output_types
from workflows_comfy.validate_inputs import full_type_name

log = logging.getLogger(__name__)

_OOM_TIPS = (
    "This error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked "
    "before you might have accidentally set the batch_size to a large number."
)
_EXECUTE_TB = (
    (
        '  File "/opt/ComfyUI/execution.py", line 545, in execute\n    output_data, output'
        "_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_i"
        "d, obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pr"
        "e_execute_cb, v3_data=v3_data)\n" + " " * 62 + "^" * 151 + "\n"
    ),
    (
        '  File "/opt/ComfyUI/execution.py", line 344, in get_output_data\n    return_valu'
        "es = await _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, "
        "obj.FUNCTION, allow_interrupt=True, execution_block_cb=execution_block_cb, pre_e"
        "xecute_cb=pre_execute_cb, v3_data=v3_data)\n" + " " * 20 + "^" * 197 + "\n"
    ),
    (
        '  File "/opt/ComfyUI/execution.py", line 318, in _async_map_node_over_list\n    a'
        "wait process_inputs(input_dict, i)\n"
    ),
    (
        '  File "/opt/ComfyUI/execution.py", line 306, in process_inputs\n    result = f(*'
        "*inputs)\n" + " " * 13 + "^" * 11 + "\n"
    ),
)
"""ComfyUI 0.33.0's own frames above a failing node function (as captured)."""
_FAULT_OOM = "CUDA out of memory. Tried to allocate 2.00 GiB (comfy-sim fault)"
CRASH_EXIT_CODE = 70
"""Exit status of a sim killed by a ``crash`` fault."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _shown(value: Any) -> Any:
    """``execution.format_value``: plain values as they are, anything else as text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    ImageOps.contain(image, (512, 512)).convert("RGB").save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


class RunHost(Protocol):
    """What a run uses of the ``Executor`` that runs it (which imports this module)."""

    hub: Hub
    cache: OutputCache
    dirs: DataDirs
    object_info: Mapping[str, Any]
    step_delay: float
    text_encode_s: float
    model_load_s: float
    client_id: str | None
    last_node_id: str | None

    @property
    def interrupted(self) -> bool: ...

    async def until_interrupted(self) -> None: ...


class PromptRun:
    """One prompt's execution state and messages."""

    def __init__(
        self, executor: RunHost, prompt_id: str, prompt: dict[str, Any], fault: Fault | None
    ) -> None:
        self.ex = executor
        self.fault = fault if fault is not None and fault.kind in NODE_FAULTS else None
        """The node fault still to go off (``_fault``)."""
        self.defect = fault if fault is not None and fault.kind in DEFECTS else None
        """The defect that spoils this prompt's ``DEFECT_NODE`` frames."""
        self.prompt_id = prompt_id
        self.prompt = prompt
        self.client = executor.client_id
        self.messages: list[list[Any]] = []
        self.executed: list[str] = []
        self.progress = Progress(
            prompt_id, lambda data: executor.hub.send("progress_state", data, self.client)
        )
        self._throttles: dict[str, Throttle] = {}

    def message(self, event: str, data: dict[str, Any], *, broadcast: bool) -> None:
        """``PromptExecutor.add_message``: kept for /history, sent if there is someone to tell."""
        data = {**data, "timestamp": _now_ms()}
        self.messages.append([event, data])
        if self.client is not None or broadcast:
            self.ex.hub.send(event, data, self.client)

    def _to_client(self, event: str, data: dict[str, Any]) -> None:
        if self.client is not None:
            self.ex.hub.send(event, data, self.client)

    async def node(self, node_id: str) -> bool:
        """Run (or replay from cache) one node; False if the prompt must stop."""
        class_type = self.prompt[node_id]["class_type"]
        hit = self.ex.cache.get(node_id)
        if hit is not None:
            self._to_client(
                "executed",
                {
                    "node": node_id,
                    "display_node": node_id,
                    "output": hit.result.ui,
                    "prompt_id": self.prompt_id,
                },
            )
            self.progress.finish(node_id)
            return True
        self.progress.start(node_id)
        inputs = self._inputs(node_id)
        self.ex.last_node_id = node_id
        self._to_client(
            "executing", {"node": node_id, "display_node": node_id, "prompt_id": self.prompt_id}
        )
        try:
            result = await self._evaluate(node_id, class_type, inputs)
        except Interrupted:
            self.message(
                "execution_interrupted", self._failure(node_id, class_type), broadcast=True
            )
            return False
        except Exception as ex:
            self._report_error(node_id, class_type, inputs, ex)
            return False
        meta = {
            "node_id": node_id,
            "display_node": node_id,
            "parent_node": None,
            "real_node_id": node_id,
        }
        self.ex.cache.put(node_id, Entry(result, meta))
        if result.ui is not None:
            self._to_client(
                "executed",
                {
                    "node": node_id,
                    "display_node": node_id,
                    "output": result.ui,
                    "prompt_id": self.prompt_id,
                },
            )
        self.progress.finish(node_id)
        self.executed.append(node_id)
        return True

    def _inputs(self, node_id: str) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        for name, value in self.prompt[node_id]["inputs"].items():
            if isinstance(value, list) and len(value) == 2:
                entry = self.ex.cache.get(value[0])
                produced = entry.result.outputs if entry is not None else ()
                inputs[name] = produced[value[1]] if value[1] < len(produced) else None
            else:
                inputs[name] = value
        return inputs

    async def _evaluate(self, node_id: str, class_type: str, inputs: dict[str, Any]) -> NodeResult:
        if self.ex.interrupted:
            raise Interrupted
        await self._fault(class_type, 0)
        evaluator = NODES.get(class_type)
        if evaluator is None:
            raise NodeFailure(
                f"comfy-sim has no evaluator for {class_type}",
                exception_type="comfy_sim.NodeNotSimulated",
            )

        async def report(value: int, total: int, preview: Image.Image | None) -> None:
            await self._report_progress(node_id, value, total, preview)

        silence = (
            self.ex.text_encode_s
            if class_type in TEXT_ENCODERS
            else self.ex.model_load_s
            if class_type in MODEL_LOADERS
            else 0.0
        )
        defect = self.defect if class_type == DEFECT_NODE else None
        if defect is not None:
            log.warning("comfy-sim fault %s spoils %s's frames", defect.kind.value, node_id)
        context = NodeContext(
            node_id,
            class_type,
            tuple(output_types(self.ex.object_info, class_type)),
            self.ex.dirs,
            self.ex.step_delay,
            report,
            self.prompt,
            silence,
            defect,
        )
        return await evaluator(context, inputs)

    async def _report_progress(
        self, node_id: str, value: int, total: int, preview: Image.Image | None
    ) -> None:
        """ComfyUI's progress hook: stop if interrupted, else, if the throttle lets the step
        through, progress_state, progress, preview."""
        if self.ex.interrupted:
            raise Interrupted
        await self._fault(self.prompt[node_id]["class_type"], value)
        throttle = self._throttles.setdefault(node_id, Throttle())
        if not throttle.due(value, total, time.perf_counter(), preview=preview is not None):
            await asyncio.sleep(0)
            return
        value = min(value, total)
        self.progress.update(node_id, value, total)
        hub, client = self.ex.hub, self.client
        jpeg = _jpeg(preview) if preview is not None else None
        if jpeg is not None and hub.supports(client, "supports_preview_metadata"):
            meta = json.dumps(
                {
                    "node_id": node_id,
                    "prompt_id": self.prompt_id,
                    "display_node_id": node_id,
                    "parent_node_id": None,
                    "real_node_id": node_id,
                    "image_type": "image/jpeg",
                }
            ).encode()
            hub.send_binary(
                PREVIEW_IMAGE_WITH_METADATA, len(meta).to_bytes(4, "big") + meta + jpeg, client
            )
            jpeg = None
        hub.send(
            "progress",
            {"value": value, "max": total, "prompt_id": self.prompt_id, "node": node_id},
            client,
        )
        if jpeg is not None:
            hub.send_binary(PREVIEW_IMAGE, (1).to_bytes(4, "big") + jpeg, client)
        await asyncio.sleep(0)

    async def _fault(self, class_type: str, step: int) -> None:
        """Set off this prompt's queued fault if it is due (see ``faults``)."""
        fault = self.fault
        if fault is None or not fault.fires(class_type, step):
            return
        self.fault = None
        log.warning("comfy-sim fault %s in %s at step %d", fault.kind.value, class_type, step)
        if fault.kind is FaultKind.ERROR:
            raise NodeFailure(
                fault.message or f"comfy-sim fault in {class_type} at step {step}",
                exception_type=fault.exception_type or "RuntimeError",
            )
        if fault.kind is FaultKind.OOM:
            raise NodeFailure(
                fault.message or _FAULT_OOM, exception_type="torch.OutOfMemoryError", oom=True
            )
        if fault.kind is FaultKind.DROP_SOCKET:
            self.ex.hub.drop(self.client)
        elif fault.kind is FaultKind.HANG:
            await self.ex.until_interrupted()
            raise Interrupted
        elif fault.kind is FaultKind.SILENCE:
            try:
                await asyncio.wait_for(self.ex.until_interrupted(), fault.seconds)
            except TimeoutError:
                return
            raise Interrupted
        else:
            os._exit(CRASH_EXIT_CODE)

    def _failure(self, node_id: str, class_type: str) -> dict[str, Any]:
        return {
            "prompt_id": self.prompt_id,
            "node_id": node_id,
            "node_type": class_type,
            "executed": list(self.executed),
        }

    def _report_error(
        self, node_id: str, class_type: str, inputs: dict[str, Any], ex: Exception
    ) -> None:
        if isinstance(ex, NodeFailure):
            kind, frames, tips = ex.exception_type, list(ex.frames), _OOM_TIPS if ex.oom else ""
        else:
            log.warning("node %s (%s) failed", node_id, class_type, exc_info=ex)
            kind = full_type_name(type(ex))
            frames, tips = traceback.format_tb(ex.__traceback__), ""
        self.message(
            "execution_error",
            {
                **self._failure(node_id, class_type),
                "exception_message": f"{ex}\n{tips}",
                "exception_type": kind,
                "traceback": [*_EXECUTE_TB, *frames],
                "current_inputs": {name: [_shown(value)] for name, value in inputs.items()},
                "current_outputs": list(self.prompt),
            },
            broadcast=False,
        )
