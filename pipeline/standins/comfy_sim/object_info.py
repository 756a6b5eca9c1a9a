"""The contract server's ``GET /object_info``: what comfy-sim claims to have installed.

``contract/object_info.json`` is ComfyUI 0.33.0's own ``/object_info`` (commit 783545f),
filtered to the nodes the presets and the tests' graphs use, as ``contract/README.md`` lists
(with the ComfyUI-GGUF pack's loaders and four 0.3.64-capture entries the old tests need). The
product never reads it: a worker validates graphs against the ``/object_info`` of its own
ComfyUI. Tests and comfy-sim use it as the reference server.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from typing import Any

_CONTRACT_FILE = "contract/object_info.json"


@functools.cache
def contract_object_info() -> dict[str, Any]:
    """The contract server's ``/object_info``, as ``contract/README.md`` lists.

    Cached and shared: treat it as read-only.
    """
    resource = importlib.resources.files(__package__ or __name__).joinpath(_CONTRACT_FILE)
    loaded: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return loaded
