"""One comfy-sim instance: its data dir, queue, WebSocket hub and executor, wired together."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
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
    text_encode_s: float = 0.0
    """Seconds each ``CLIPTextEncode`` works in silence (no message between its ``executing``
    and its finished ``progress_state``); the real one on CPU took 57-122 s."""
    model_load_s: float = 0.0
    """Seconds each model loader works in silence (``nodes.MODEL_LOADERS``); a 14B model
    from a network disk can take minutes."""
    object_info: Mapping[str, Any] | None = None
    """What the sim claims to have installed; the contract snapshot by default."""
    hidden_models: frozenset[str] = frozenset()
    """Model file names left out of every loader's list, as on a box that lacks them."""
    renamed_models: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Shipped file name → the name this box's file has, in every loader's list."""


class Sim:
    def __init__(self, config: SimConfig) -> None:
        self.dirs = DataDirs.create(config.data_dir)
        self.installed = rename_models(
            config.object_info if config.object_info is not None else contract_object_info(),
            config.renamed_models,
        )
        """Every node and model file, before ``hidden_models`` are taken out."""
        self.hidden_models = config.hidden_models
        self.object_info = without_models(self.installed, self.hidden_models)
        self.number = 0
        """``POST /prompt``'s global counter."""
        self.record: dict[str, list[Any]] = {"free": [], "interrupt": []}
        """Bodies of the ``/free`` and ``/interrupt`` requests received, in order."""
        self.hub = Hub(lambda sid: self.executor.on_connect(sid))
        self.queue = PromptQueue(self.queue_updated)
        self.executor = Executor(
            self.queue,
            self.hub,
            self.dirs,
            self.object_info,
            config.step_delay,
            config.text_encode_s,
            config.model_load_s,
        )

    def hide_models(self, names: frozenset[str]) -> None:
        """Offer every installed model file but ``names`` from now on (files deleted or added)."""
        self.hidden_models = names
        self.object_info = without_models(self.installed, names)
        self.executor.object_info = self.object_info

    def queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": self.queue.remaining}}

    def queue_updated(self) -> None:
        self.hub.send("status", {"status": self.queue_info()})

    def served_object_info(self, class_type: str | None = None) -> dict[str, Any]:
        """``/object_info`` as the server shows it now: upload combos list the input dir."""
        names = [class_type] if class_type is not None else list(self.object_info)
        served = {name: self.object_info[name] for name in names if name in self.object_info}
        for node, field, listing in (
            ("LoadImage", "image", {"images": True}),
            ("LoadAudio", "audio", {}),
            ("LoadVideo", "file", {"videos": True}),
        ):
            if node in served:
                entry = copy.deepcopy(served[node])
                spec = entry["input"]["required"][field]
                # A V1 combo is ``[[names], {...}]``; a V3 one ``["COMBO", {"options": names}]``.
                if isinstance(spec[0], list):
                    spec[0] = self.dirs.listing(**listing)
                else:
                    spec[1]["options"] = self.dirs.listing(**listing)
                served[node] = entry
        return served


def _map_combos(object_info: Mapping[str, Any], change: Callable[[list[Any]], list[Any]]) -> Any:
    changed = copy.deepcopy(dict(object_info))
    for entry in changed.values():
        for category in ("required", "optional"):
            for spec in entry.get("input", {}).get(category, {}).values():
                if isinstance(spec[0], list):
                    spec[0] = change(spec[0])
                elif spec[0] == "COMBO" and len(spec) > 1 and "options" in spec[1]:
                    spec[1]["options"] = change(spec[1]["options"])
    return changed


def without_models(object_info: Mapping[str, Any], hidden: frozenset[str]) -> Mapping[str, Any]:
    """``object_info`` with the files in ``hidden`` removed from every combo list."""
    if not hidden:
        return object_info
    result: Mapping[str, Any] = _map_combos(
        object_info, lambda vs: [v for v in vs if v not in hidden]
    )
    return result


def rename_models(object_info: Mapping[str, Any], renamed: Mapping[str, str]) -> Mapping[str, Any]:
    """``object_info`` with the files in ``renamed`` offered under their new names."""
    if not renamed:
        return object_info
    result: Mapping[str, Any] = _map_combos(
        object_info, lambda vs: [renamed.get(v, v) if isinstance(v, str) else v for v in vs]
    )
    return result
