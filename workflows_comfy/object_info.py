"""ComfyUI's ``GET /object_info``: typed look-ups into what a server says it has installed.

An entry is what the server sends per node class::

    {"input": {"required": {name: [type, {options}]}, "optional": {...}, "hidden": {...}},
     "output": [type, ...], "output_node": bool, ...}

``type`` is a string (``"INT"``, ``"IMAGE"``, ``"COMBO"``) or, for V1 combos, the list of
allowed values itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ObjectInfo = Mapping[str, Any]

DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
"""A V3 combo whose chosen option adds inputs named ``<combo>.<input>`` (current ComfyUI)."""


@dataclass(frozen=True)
class InputSpec:
    """One declared input of a node class."""

    name: str
    type: Any
    """``"INT"``, ``"IMAGE"``, ``"COMBO"``... or a V1 combo's list of values."""
    options: Mapping[str, Any] = field(default_factory=dict)
    required: bool = True

    @property
    def config(self) -> list[Any]:
        """``[type, options]``: what ComfyUI reports as ``input_config`` in errors."""
        return [self.type, dict(self.options)]

    @property
    def combo_values(self) -> list[Any] | None:
        """The allowed values of a combo input (V1 list or V3 ``COMBO``), else ``None``."""
        if isinstance(self.type, list):
            return self.type
        if self.type == "COMBO":
            return list(self.options.get("options", []))
        if self.type == DYNAMIC_COMBO:
            return [option["key"] for option in self.options.get("options", [])]
        return None


def node_info(object_info: ObjectInfo, class_type: object) -> Mapping[str, Any] | None:
    """The entry for ``class_type``, or ``None`` if the server has no such node."""
    if not isinstance(class_type, str):
        return None
    entry = object_info.get(class_type)
    return entry if isinstance(entry, Mapping) else None


def _entry(object_info: ObjectInfo, class_type: str) -> Mapping[str, Any]:
    entry = node_info(object_info, class_type)
    if entry is None:
        raise KeyError(f"object_info has no node {class_type!r}")
    return entry


def input_specs(object_info: ObjectInfo, class_type: str) -> dict[str, InputSpec]:
    """Required then optional inputs of ``class_type`` (hidden ones are not inputs a graph sets)."""
    declared = _entry(object_info, class_type).get("input", {})
    specs: dict[str, InputSpec] = {}
    for category in ("required", "optional"):
        for name, raw in declared.get(category, {}).items():
            options = raw[1] if len(raw) > 1 and isinstance(raw[1], Mapping) else {}
            specs[name] = InputSpec(name, raw[0], options, category == "required")
    return specs


def input_spec(object_info: ObjectInfo, class_type: str, name: str) -> InputSpec | None:
    return input_specs(object_info, class_type).get(name)


def output_types(object_info: ObjectInfo, class_type: str) -> list[Any]:
    """``RETURN_TYPES``: the type of each output slot, in slot order."""
    return list(_entry(object_info, class_type).get("output", []))


def is_output_node(object_info: ObjectInfo, class_type: str) -> bool:
    return _entry(object_info, class_type).get("output_node") is True


def hidden_inputs(object_info: ObjectInfo, class_type: str) -> set[str]:
    """Kinds of hidden inputs (``"PROMPT"``, ``"UNIQUE_ID"``...); V1 and V3 spellings."""
    hidden = _entry(object_info, class_type).get("input", {}).get("hidden", {})
    return {kind[0] if isinstance(kind, list) else kind for kind in hidden.values()}
