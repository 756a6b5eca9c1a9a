"""Per-node input checks: ComfyUI's ``execution.validate_inputs``, error body for error body.

``NodeChecker.node(id)`` validates a node and, recursively, what it links to, recording
``validated[id] = (ok, errors)``. Where ComfyUI's own code would raise (a link to a missing
node or slot), ``Broken`` carries the exception and where it was raised, for the caller to
turn into ``exception_during_(inner_)validation``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Literal

from workflows_comfy.object_info import InputSpec, ObjectInfo, input_specs, output_types

_FILE_INPUTS: dict[str, tuple[str, str]] = {
    "LoadImage": ("image", "Invalid image file: {}"),
    "LoadAudio": ("audio", "Invalid audio file: {}"),
    "LoadVideo": ("file", "Invalid video file: {}"),
}
"""Nodes whose ``VALIDATE_INPUTS`` checks a file in the input folder (and skips the combo)."""

_COERCE: dict[str, type] = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


ValidationSite = Literal["outer_call", "inner_call", "inputs", "linked_node", "linked_slot"]
"""Where in ComfyUI's ``execution.py`` a validation exception passes: the call from
``validate_prompt`` into ``validate_inputs`` (``outer_call``), its recursion into a linked
node (``inner_call``), and the lines that raise: reading a node's ``inputs``, the linked
node's ``class_type``, the linked output slot."""

Tracebacks = Callable[[ValidationSite], str]
"""The ``traceback.format_tb`` entry ComfyUI prints for a site. Only a server answering as
ComfyUI needs them (comfy-sim passes its own); without one the ``traceback`` lists are empty."""


def full_type_name(kind: type) -> str:
    """An exception type as ComfyUI names it: ``KeyError``, ``torch.OutOfMemoryError``."""
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def error_body(kind: str, message: str, details: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra}


class Broken(Exception):
    """An exception ComfyUI's validator would raise (and its caller catch) inside a node."""

    def __init__(self, cause: Exception, site: ValidationSite) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.site = site

    @property
    def type_name(self) -> str:
        return full_type_name(type(self.cause))


def _types_match(received: Any, expected: Any) -> bool:
    """``comfy_execution.validation.validate_node_input``, plus the ``*`` wildcard."""
    if received == expected or "*" in (received, expected):
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    return bool({t.strip() for t in received.split(",")} & {t.strip() for t in expected.split(",")})


class _NodeErrors:
    """One node's error bodies, each also said as a sentence in ``NodeChecker.problems``."""

    def __init__(self, checker: NodeChecker, node_id: Any) -> None:
        self.checker, self.node_id = checker, node_id
        self.errors: list[dict[str, Any]] = []

    def add(
        self, name: str, said: str, kind: str, message: str, details: str, **extra: Any
    ) -> None:
        self.errors.append(error_body(kind, message, details, extra))
        self.checker.say(self.node_id, name, said)


class NodeChecker:
    def __init__(
        self,
        prompt: dict[str, Any],
        object_info: ObjectInfo,
        input_files: Collection[str] | None,
        tracebacks: Tracebacks | None = None,
    ) -> None:
        self.prompt = prompt
        self.object_info = object_info
        self.input_files = input_files
        self.tracebacks = tracebacks
        self.validated: dict[Any, tuple[bool, list[dict[str, Any]]]] = {}
        self.visiting: list[str] = []
        self.problems: list[str] = []

    def traceback(self, call: ValidationSite, broken: Broken) -> list[str]:
        """ComfyUI's traceback entries for ``broken`` reached through ``call``."""
        if self.tracebacks is None:
            return []
        return [self.tracebacks(call), self.tracebacks(broken.site)]

    def say(self, node_id: Any, name: str, what: str) -> None:
        class_type = self.prompt[node_id]["class_type"]
        self.problems.append(f"node {node_id} ({class_type}) input {name!r}: {what}")

    def node(self, node_id: Any) -> tuple[bool, list[dict[str, Any]]]:
        """``validate_inputs``: ``(ok, errors)`` of a node, checking what it links to first."""
        if node_id in self.validated:
            return self.validated[node_id]
        try:
            inputs = self.prompt[node_id]["inputs"]
            if not isinstance(inputs, dict):
                raise TypeError(f"inputs of node {node_id} must be an object")
        except Exception as ex:
            self.problems.append(f"node {node_id} has no inputs")
            raise Broken(ex, "inputs") from ex
        class_type = self.prompt[node_id]["class_type"]
        report = _NodeErrors(self, node_id)
        valid = True
        checked_file = _FILE_INPUTS.get(class_type, ("", ""))[0]
        self.visiting.append(node_id)
        try:
            for name, spec in input_specs(self.object_info, class_type).items():
                if name not in inputs:
                    if spec.required:
                        report.add(
                            name,
                            "required input is missing",
                            "required_input_missing",
                            "Required input is missing",
                            name,
                            input_name=name,
                        )
                elif isinstance(inputs[name], list):
                    valid = self._link(report, name, spec, inputs[name]) and valid
                else:
                    self._value(report, inputs, name, spec, name == checked_file)
        finally:
            self.visiting.pop()
        self._check_file(report, class_type, inputs)
        result = (valid and not report.errors, report.errors)
        self.validated[node_id] = result
        return result

    def _link(self, report: _NodeErrors, name: str, spec: InputSpec, link: list[Any]) -> bool:
        """Check one link; False if anything upstream is invalid."""
        if len(link) != 2:
            report.add(
                name,
                f"{link!r} is not a link [node_id, output_index]",
                "bad_linked_input",
                "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                name,
                input_name=name,
                input_config=spec.config,
                received_value=link,
            )
            return True
        source, slot = link
        try:
            source_type = self.prompt[source]["class_type"]
        except Exception as ex:
            self.say(report.node_id, name, f"links to node {source!r}, which is not in the graph")
            raise Broken(ex, "linked_node") from ex
        outputs = tuple(output_types(self.object_info, source_type))
        try:
            received = outputs[slot]
        except Exception as ex:
            self.say(
                report.node_id,
                name,
                f"links to output {slot!r} of node {source} "
                f"({source_type}), which has {len(outputs)} output(s)",
            )
            raise Broken(ex, "linked_slot") from ex
        if not _types_match(received, spec.type):
            report.add(
                name,
                f"links to output {slot} of node {source} ({source_type}) of type "
                f"{received}, but {spec.type} is expected",
                "return_type_mismatch",
                "Return type mismatch between linked nodes",
                f"{name}, received_type({received}) mismatch input_type({spec.type})",
                input_name=name,
                input_config=spec.config,
                received_type=received,
                linked_node=link,
            )
            return True
        if source in self.visiting:
            cycle = [*self.visiting[self.visiting.index(source) :], source]
            path = " -> ".join(f"{n} ({self.prompt[n]['class_type']})" for n in cycle)
            report.add(
                name,
                f"closes a dependency cycle {path}",
                "dependency_cycle",
                "Dependency cycle detected",
                path,
                node_id=report.node_id,
                cycle_nodes=cycle[:-1],
            )
            return True
        try:
            upstream_ok, _ = self.node(source)
        except Broken as broken:
            extra = {
                "input_name": name,
                "input_config": spec.config,
                "exception_message": str(broken),
                "exception_type": broken.type_name,
                "traceback": self.traceback("inner_call", broken),
                "linked_node": link,
            }
            self.validated[source] = (
                False,
                [
                    error_body(
                        "exception_during_inner_validation",
                        "Exception when validating inner node",
                        str(broken),
                        extra,
                    )
                ],
            )
            return False
        return upstream_ok

    def _value(
        self,
        report: _NodeErrors,
        inputs: dict[str, Any],
        name: str,
        spec: InputSpec,
        custom_checked: bool,
    ) -> None:
        value = inputs[name]
        try:
            if isinstance(value, dict) and "__value__" in value:
                value = inputs[name] = value["__value__"]
            if isinstance(spec.type, str) and spec.type in _COERCE:
                value = inputs[name] = _COERCE[spec.type](value)
        except Exception as ex:
            report.add(
                name,
                f"{value!r} is not a valid {spec.type} ({ex})",
                "invalid_input_type",
                f"Failed to convert an input value to a {spec.type} value",
                f"{name}, {value}, {ex}",
                input_name=name,
                input_config=spec.config,
                received_value=value,
                exception_message=str(ex),
            )
            return
        if custom_checked:
            return
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        extra = {"input_name": name, "input_config": spec.config, "received_value": value}
        low, high = spec.options.get("min"), spec.options.get("max")
        if numeric and low is not None and value < low:
            report.add(
                name,
                f"{value} is below the minimum {low}",
                "value_smaller_than_min",
                f"Value {value} smaller than min of {low}",
                name,
                **extra,
            )
        elif numeric and high is not None and value > high:
            report.add(
                name,
                f"{value} is above the maximum {high}",
                "value_bigger_than_max",
                f"Value {value} bigger than max of {high}",
                name,
                **extra,
            )
        elif (allowed := spec.combo_values) is not None and value not in allowed:
            # ComfyUI leaves long lists (scanned model folders) out of the answer.
            long = len(allowed) > 20
            listed = f"(list of length {len(allowed)})" if long else str(allowed)
            shown = f"the {len(allowed)} allowed values" if long else ", ".join(map(repr, allowed))
            report.add(
                name,
                f"{value!r} is not one of {shown}",
                "value_not_in_list",
                "Value not in list",
                f"{name}: '{value}' not in {listed}",
                **{**extra, "input_config": None if long else spec.config},
            )

    def _check_file(self, report: _NodeErrors, class_type: str, inputs: dict[str, Any]) -> None:
        if self.input_files is None or class_type not in _FILE_INPUTS:
            return
        name, complaint = _FILE_INPUTS[class_type]
        value = inputs.get(name)
        if value is None or isinstance(value, list) or str(value) in self.input_files:
            return
        report.add(
            name,
            f"file {value!r} is not in the worker's input folder",
            "custom_validation_failed",
            "Custom validation failed for node",
            f"{name} - {complaint.format(value)}",
            input_name=name,
        )
