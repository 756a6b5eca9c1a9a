"""What a GPU worker's ComfyUI can run now, from its ``/object_info``, kept current, and
which ComfyUI it is (``/system_stats``).

A worker reads ``/object_info`` at start, again whenever a graph it was handed fails
validation (models may have been removed), and on the registry's refresh (models may have
been added). Each read updates ``Admission.serving``, so the worker polls exactly the
queues of the presets it can run.
"""

from __future__ import annotations

from typing import Any

from pipeline.comfy.client import ComfyClient
from pipeline.comfy.system import ServerInfo
from pipeline.fleet.admission import Admission
from pipeline.logging import get_logger
from workflows_comfy.servable import Missing, missing_by_preset, servable

log = get_logger()


class Capabilities:
    def __init__(
        self,
        comfy_url: str,
        admission: Admission,
        object_info: dict[str, Any],
        server: ServerInfo | None = None,
    ) -> None:
        self.comfy_url = comfy_url
        self.admission = admission
        self.server = server or ServerInfo()
        """Its version and devices, as ``/system_stats`` said at the last read."""
        self.object_info: dict[str, Any] = {}
        self.serving: dict[str, list[str]] = {}
        """Kind → presets whose graphs the server accepts."""
        self.missing: dict[str, Missing] = {}
        """Preset → what the server lacks, for the presets it cannot run."""
        self._set(object_info)

    @property
    def presets(self) -> frozenset[str]:
        return frozenset(name for names in self.serving.values() for name in names)

    def _set(self, object_info: dict[str, Any]) -> None:
        self.object_info = object_info
        self.serving = servable(object_info)
        self.missing = missing_by_preset(object_info)

    async def refresh(self) -> None:
        """Re-read ``/object_info`` and ``/system_stats``; ``WorkerUnavailable`` if ComfyUI
        does not answer."""
        async with ComfyClient(self.comfy_url) as comfy:
            object_info = await comfy.object_info()
            self.server = await comfy.server_info()
        before = self.presets
        self._set(object_info)
        if self.presets != before:
            log.info(
                "worker_presets_changed",
                added=sorted(self.presets - before),
                removed=sorted(before - self.presets),
                missing={name: found.describe() for name, found in self.missing.items()},
            )
        await self.admission.set_serving(self.presets)
