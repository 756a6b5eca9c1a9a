"""One comfy-sim instance: its data dir, queue, WebSocket hub and executor, wired together."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.standins.comfy_sim.executor import Executor
from pipeline.standins.comfy_sim.hub import Hub
from pipeline.standins.comfy_sim.object_info import contract_object_info
from pipeline.standins.comfy_sim.paths import DataDirs
from pipeline.standins.comfy_sim.prompt_queue import PromptQueue


@dataclass(frozen=True)
class SimConfig:
    data_dir: Path
    """Holds ``input/``, ``output/`` and ``temp/`` (created if missing)."""
    step_delay: float = 0.02
    """Seconds per simulated sampling step."""
    object_info: Mapping[str, Any] | None = None
    """What the sim claims to have installed; the contract snapshot by default."""


class Sim:
    def __init__(self, config: SimConfig) -> None:
        self.dirs = DataDirs.create(config.data_dir)
        self.object_info = (
            config.object_info if config.object_info is not None else contract_object_info()
        )
        self.number = 0
        """``POST /prompt``'s global counter."""
        self.record: dict[str, list[Any]] = {"free": [], "interrupt": []}
        """Bodies of the ``/free`` and ``/interrupt`` requests received, in order."""
        self.hub = Hub(lambda sid: self.executor.on_connect(sid))
        self.queue = PromptQueue(self.queue_updated)
        self.executor = Executor(
            self.queue, self.hub, self.dirs, self.object_info, config.step_delay
        )

    def queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": self.queue.remaining}}

    def queue_updated(self) -> None:
        self.hub.send("status", {"status": self.queue_info()})

    def served_object_info(self, class_type: str | None = None) -> dict[str, Any]:
        """``/object_info`` as the server shows it now: upload combos list the input dir.

        Our ``_``-prefixed annotations (``_derived``) are not served.
        """
        names = [class_type] if class_type is not None else list(self.object_info)
        served = {
            name: {key: value for key, value in self.object_info[name].items() if key[:1] != "_"}
            for name in names
            if name in self.object_info
        }
        for node, field in (("LoadImage", "image"), ("LoadAudio", "audio")):
            if node in served:
                entry = copy.deepcopy(served[node])
                entry["input"]["required"][field][0] = self.dirs.listing(images=field == "image")
                served[node] = entry
        if "LoadVideo" in served:
            entry = copy.deepcopy(served["LoadVideo"])
            entry["input"]["required"]["file"][1]["options"] = self.dirs.listing(videos=True)
            served["LoadVideo"] = entry
        return served
