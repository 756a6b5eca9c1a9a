"""``GET /system_stats``: which ComfyUI answers, on which devices.

The shape is ComfyUI's (``server.py`` ``system_stats``, 0.3.64 and 0.33.0 alike):
``{"system": {"comfyui_version": str, "python_version": str, "pytorch_version": str, ...},
"devices": [{"name": str, "type": str, ...}, ...]}``. Fields a server leaves out read as
``"unknown"``, so an older or a stand-in server still describes itself.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ServerInfo(BaseModel):
    """What a ComfyUI says about itself, as the worker record and ``pipeline doctor`` show it."""

    version: str = "unknown"
    """``system.comfyui_version``, e.g. ``"0.33.0"``."""
    pytorch: str = "unknown"
    """``system.pytorch_version``, e.g. ``"2.14.1+cu130"``."""
    devices: list[str] = []
    """Each device's ``name`` (``"cpu"``, ``"cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync"``)."""

    @staticmethod
    def parse(stats: dict[str, Any]) -> ServerInfo:
        """From a ``/system_stats`` body; ``ValueError`` if it is not that shape at all."""
        system, devices = stats.get("system"), stats.get("devices", [])
        if not isinstance(system, dict) or not isinstance(devices, list):
            raise ValueError("not a /system_stats body: no 'system' object or 'devices' list")
        return ServerInfo(
            version=str(system.get("comfyui_version", "unknown")),
            pytorch=str(system.get("pytorch_version", "unknown")),
            devices=[str(d.get("name")) for d in devices if isinstance(d, dict)],
        )

    def describe(self) -> str:
        """``"ComfyUI 0.33.0 (cpu)"``: one line for people."""
        return f"ComfyUI {self.version} ({', '.join(self.devices) or 'no devices'})"
