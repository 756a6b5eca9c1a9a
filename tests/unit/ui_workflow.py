"""Read a ComfyUI workflow in UI format (the official templates), subgraphs expanded.

A UI workflow lists ``nodes`` (``type``, ``widgets_values``, ``inputs`` with ``link`` ids)
and ``links``; a node whose ``type`` is a subgraph id instantiates
``definitions.subgraphs[id]``, whose inner links start at ``-10`` (the subgraph's inputs).
``UIWorkflow.flatten`` lists every real node with each input resolved to a value: a widget
value (named from the class's ``/object_info`` input order, the seed's
``control_after_generate`` slot skipped), a primitive's value, a switch's chosen branch or a
math expression's result, followed across subgraph boundaries. A link to any other node
resolves to ``Linked(class_type)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from workflows_comfy.object_info import DYNAMIC_COMBO, input_specs

_UI_ONLY = {"MarkdownNote", "Note", "PrimitiveNode"}
_VALUE_NODES = {"PrimitiveInt", "PrimitiveFloat", "PrimitiveBoolean", "PrimitiveString"}
_WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", DYNAMIC_COMBO}
INPUT = -10
"""``origin_id`` of links that start at the subgraph's inputs."""


@dataclass(frozen=True)
class Linked:
    """An input fed by a node that is not a value (a model, an image...)."""

    class_type: str


@dataclass(frozen=True)
class FlatNode:
    class_type: str
    inputs: dict[str, Any]
    models: tuple[dict[str, str], ...]
    """``properties.models``: ``name``, ``directory``, ``url`` of each file the node loads."""
    title: str = ""


@dataclass
class _Scope:
    nodes: dict[int, dict[str, Any]]
    links: dict[int, tuple[int, int]]
    """Link id → (origin node id, origin slot)."""
    input_names: list[str] = field(default_factory=list)
    parent: _Scope | None = None
    instance: dict[str, Any] | None = None


def _links(raw: list[Any]) -> dict[int, tuple[int, int]]:
    found: dict[int, tuple[int, int]] = {}
    for link in raw:
        if isinstance(link, list):
            found[link[0]] = (link[1], link[2])
        else:
            found[link["id"]] = (link["origin_id"], link["origin_slot"])
    return found


class UIWorkflow:
    def __init__(
        self,
        document: Mapping[str, Any],
        object_info: Mapping[str, Any],
        switches: Mapping[str, bool] | None = None,
    ) -> None:
        self.document = document
        self.object_info = object_info
        self.switches = dict(switches or {})
        self.subgraphs = {
            sg["id"]: sg for sg in document.get("definitions", {}).get("subgraphs", [])
        }
        self.top = _Scope({n["id"]: n for n in document["nodes"]}, _links(document["links"]))

    def components(self) -> list[set[int]]:
        """Top-level node ids, grouped by what links connect (notes left out)."""
        groups = {n: {n} for n, node in self.top.nodes.items() if node["type"] not in _UI_ONLY}
        for link in self.document["links"]:
            origin, target = link[1], link[3]
            if origin in groups and target in groups and groups[origin] is not groups[target]:
                merged = groups[origin] | groups[target]
                for member in merged:
                    groups[member] = merged
        unique = {id(g): g for g in groups.values()}
        return list(unique.values())

    def flatten(self, top_ids: set[int] | None = None) -> list[FlatNode]:
        """Every node under ``top_ids`` (all top-level nodes if ``None``), subgraphs expanded."""
        wanted = set(self.top.nodes) if top_ids is None else top_ids
        return list(self._walk(self.top, [self.top.nodes[i] for i in sorted(wanted)]))

    def _walk(self, scope: _Scope, nodes: list[dict[str, Any]]) -> Iterator[FlatNode]:
        for node in nodes:
            kind = node["type"]
            if kind in _UI_ONLY:
                continue
            if kind in self.subgraphs:
                inner = self._enter(scope, node)
                yield from self._walk(inner, list(inner.nodes.values()))
                continue
            names = [i["name"] for i in node.get("inputs", [])] + self._widget_names(node)
            inputs = {name: self._input(scope, node, name) for name in dict.fromkeys(names)}
            models = tuple(node.get("properties", {}).get("models", []))
            yield FlatNode(kind, inputs, models, node.get("title") or "")

    def _enter(self, scope: _Scope, instance: dict[str, Any]) -> _Scope:
        sg = self.subgraphs[instance["type"]]
        return _Scope(
            {n["id"]: n for n in sg["nodes"]},
            _links(sg["links"]),
            [i["name"] for i in sg["inputs"]],
            scope,
            instance,
        )

    def _widget_names(self, node: dict[str, Any]) -> list[str]:
        """Names of ``widgets_values``' entries in order; ``""`` for control slots."""
        kind = node["type"]
        if kind in self.subgraphs:
            return [
                i["name"]
                for i in self.subgraphs[kind]["inputs"]
                if str(i.get("type")) in _WIDGET_TYPES
            ]
        if kind in _VALUE_NODES or kind not in self.object_info:
            return []
        names: list[str] = []
        for name, spec in input_specs(self.object_info, kind).items():
            if isinstance(spec.type, list) or spec.type in _WIDGET_TYPES:
                names.append(name)
                if spec.options.get("control_after_generate"):
                    names.append("")
        return names

    def _widget(self, node: dict[str, Any], name: str) -> Any:
        values = node.get("widgets_values") or []
        names = self._widget_names(node)
        if name in names and names.index(name) < len(values):
            return values[names.index(name)]
        return None

    def _input(self, scope: _Scope, node: dict[str, Any], name: str) -> Any:
        socket = next((i for i in node.get("inputs", []) if i["name"] == name), None)
        if socket is not None and socket.get("link") is not None:
            return self._link(scope, socket["link"])
        return self._widget(node, name)

    def _link(self, scope: _Scope, link_id: int) -> Any:
        origin, slot = scope.links[link_id]
        if origin == INPUT:
            assert scope.parent is not None
            assert scope.instance is not None
            return self._input(scope.parent, scope.instance, scope.input_names[slot])
        node = scope.nodes[origin]
        kind = node["type"]
        if kind in _VALUE_NODES:
            title = node.get("title", "")
            return self.switches.get(title, (node.get("widgets_values") or [None])[0])
        if kind == "ComfySwitchNode":
            chosen = self._input(scope, node, "switch")
            return self._input(scope, node, "on_true" if chosen else "on_false")
        if kind == "ComfyMathExpression":
            return self._math(scope, node, slot)
        return Linked(kind)

    def _math(self, scope: _Scope, node: dict[str, Any], slot: int) -> Any:
        names = {"a": "values.a", "b": "values.b", "c": "values.c"}
        values = {k: self._input(scope, node, v) for k, v in names.items()}
        expression = str((node.get("widgets_values") or [""])[0])
        # The templates' expressions are arithmetic on a, b, c with floor/ceil/round.
        allowed = {"floor": math.floor, "ceil": math.ceil, "round": round, **values}
        result = eval(expression, {"__builtins__": {}}, allowed)
        return (float(result), int(result), bool(result))[slot]
