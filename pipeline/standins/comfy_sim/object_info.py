"""The contract server's ``GET /object_info``: what comfy-sim claims to have installed.

``contract/object_info.json`` is what ``pipeline comfyui capture`` kept of a ComfyUI 0.33.0's
own ``/object_info``: the nodes the presets and the tests' graphs use, with the ComfyUI-GGUF
pack's loaders, as ``contract/README.md`` lists. ``contract/legacy_object_info.json`` adds the
four entries no 0.33.0 capture has (VideoHelperSuite's and the 0.3.64 capture's fixture pack),
which the tests that replay that capture need; a re-capture leaves it alone. The product
never reads either: a worker validates graphs against the ``/object_info`` of its own
ComfyUI. Tests and comfy-sim use them as the reference server.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from typing import Any

_CONTRACT_FILES = ("contract/object_info.json", "contract/legacy_object_info.json")


@functools.cache
def contract_object_info() -> dict[str, Any]:
    """The contract server's ``/object_info``: the capture's entries, then the legacy ones.

    Cached and shared: treat it as read-only.
    """
    package = importlib.resources.files(__package__ or __name__)
    entries: dict[str, Any] = {}
    for name in _CONTRACT_FILES:
        entries.update(json.loads(package.joinpath(name).read_text(encoding="utf-8")))
    return entries
