"""Compare comfy-sim's answer to one HTTP request with what the real ComfyUI 0.33.0 answered.

An exchange is ``{"request": {"method", "path", ...}, "status", "body"}``, as
``pipeline comfyui capture`` writes ``http/NAME.json`` (``pipeline.comfy.capture.record``;
the real ones in ``pipeline/standins/comfy_sim/contract/http/``). ``differences`` lists every
way two exchanges differ that a client could tell apart; empty means they match.

What must be equal: the request's method and path (an id in the path, a UUID, is masked), the
status code, and the body's shape: the same JSON type at every place (``null``, ``bool``,
``int``, ``float``, ``str``, list or object), the same keys in every object (keys that are
UUIDs, such as ``/history``'s prompt ids, stand for "an id" and are matched in order), the
same length of every list but those under ``FREE_LENGTH_KEYS``. And the values that are
protocol: every ``bool`` (``cancelled``, ``completed``, ``animated``, ``has_more``) and every
string under one of ``PROTOCOL_KEYS`` (a job's ``status``, ``status_str``, an error's ``type``
and ``message``, a node's ``class_type``, the event names in ``messages``...). Everything else
may differ: ids, timestamps, queue numbers, counters, file names, free texts such as
tracebacks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PROTOCOL_KEYS = frozenset(
    {
        "status",
        "status_str",
        "type",
        "message",
        "error",
        "class_type",
        "node_type",
        "node_id",
        "nodeId",
        "exception_type",
        "mediaType",
        "subfolder",
        "messages",
    }
)
"""Keys whose string values are part of the protocol: a string directly under one, or in a
list directly under one (``messages``' event names), must be equal."""
FREE_LENGTH_KEYS = frozenset({"argv"})
"""Lists whose length is the server's own business (``/system_stats``' command line): each
item has the real list's first item's shape."""
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def json_type(value: Any) -> str:
    """The JSON type of a parsed value: ``null``, ``bool``, ``int``, ``float``, ``str``,
    ``list`` or ``object``."""
    if value is None:
        return "null"
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if isinstance(value, kind):
            return name
    return "list" if isinstance(value, list) else "object"


def _masked_keys(value: Mapping[str, Any]) -> dict[str, str]:
    """``value``'s keys → how they are compared: the Nth UUID key as ``<id N>``, any other
    key as itself."""
    masked: dict[str, str] = {}
    ids = 0
    for key in value:
        if _UUID.fullmatch(key):
            masked[key], ids = f"<id {ids}>", ids + 1
        else:
            masked[key] = key
    return masked


def body_differences(real: Any, sim: Any, where: str = "body", key: str = "") -> list[str]:
    """Every difference between two parsed bodies under the module's rules; ``where`` names
    the place in messages, ``key`` is the object key the values sit under (for a list's
    items, the list's key)."""
    if json_type(real) != json_type(sim):
        return [
            f"{where}: real is {json_type(real)} {real!r:.80}, sim {json_type(sim)} {sim!r:.80}"
        ]
    if isinstance(real, dict):
        real_keys, sim_keys = _masked_keys(real), _masked_keys(sim)
        found = []
        if sorted(real_keys.values()) != sorted(sim_keys.values()):
            missing = sorted(set(real_keys.values()) - set(sim_keys.values()))
            extra = sorted(set(sim_keys.values()) - set(real_keys.values()))
            found.append(f"{where}: keys missing {missing}, extra {extra}")
        by_mask = {mask: name for name, mask in sim_keys.items()}
        for name, mask in real_keys.items():
            if mask in by_mask:
                found += body_differences(real[name], sim[by_mask[mask]], f"{where}.{mask}", mask)
        return found
    if isinstance(real, list):
        if key in FREE_LENGTH_KEYS:
            shapes = real[:1] * len(sim)
            return [
                problem
                for index, (one, other) in enumerate(zip(shapes, sim, strict=False))
                for problem in body_differences(one, other, f"{where}[{index}]", key)
            ]
        if len(real) != len(sim):
            return [f"{where}: real has {len(real)} items, sim {len(sim)}"]
        return [
            problem
            for index, (one, other) in enumerate(zip(real, sim, strict=True))
            for problem in body_differences(one, other, f"{where}[{index}]", key)
        ]
    protocol = isinstance(real, bool) or (isinstance(real, str) and key in PROTOCOL_KEYS)
    if protocol and real != sim:
        return [f"{where}: real {real!r}, sim {sim!r}"]
    return []


def differences(real: Mapping[str, Any], sim: Mapping[str, Any]) -> list[str]:
    """Every way exchange ``sim`` differs from exchange ``real`` (module docstring)."""
    found = []
    for field in ("method", "path"):
        want = _UUID.sub("<id>", str(real["request"][field]))
        got = _UUID.sub("<id>", str(sim["request"][field]))
        if want != got:
            found.append(f"request {field}: real {want!r}, sim {got!r}")
    if real["status"] != sim["status"]:
        found.append(f"status: real {real['status']}, sim {sim['status']}")
    return found + body_differences(real["body"], sim["body"])
