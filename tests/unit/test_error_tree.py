"""The error tree in ``pipeline/domain/errors.py``'s docstring is the class hierarchy itself.

As httpx's ``tests/test_exported_members.py`` pins its exported surface, this pins the
advertised map: every ``PipelineError`` subclass anywhere in the product is defined in
``pipeline.domain.errors``, stands in the tree under its base class, with a retryability
annotation that agrees with its ``retryable`` flag and a code of its own, and the derived
``NON_RETRYABLE_CODES`` is exactly the codes of the ``retryable = False`` classes.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass

import activities
import pipeline
import workflows_comfy
from pipeline.domain import errors
from pipeline.domain.errors import NON_RETRYABLE_CODES, REROUTE_CODES, PipelineError

PACKAGES = (pipeline, activities, workflows_comfy)
_NODE = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+)(?P<note>.*)$")
_FLAG = re.compile(r"\((?P<flag>not retryable|retryable)\b")


@dataclass(frozen=True)
class Node:
    name: str
    parent: str | None
    retryable: bool
    """As annotated on the line, else as the parent's."""
    rerouted: bool


def tree() -> dict[str, Node]:
    """The docstring's tree: the lines between ``::`` and the next blank line."""
    doc = errors.__doc__ or ""
    lines = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    nodes: dict[str, Node] = {}
    path: list[Node] = []
    for line in lines:
        found = _NODE.match(line.strip("\n").removeprefix("    "))
        assert found, f"not a tree line: {line!r}"
        depth = len(found["indent"]) // 4
        del path[depth:]
        flag = _FLAG.search(found["note"])
        parent = path[-1] if path else None
        retryable = flag["flag"] == "retryable" if flag else parent is None or parent.retryable
        node = Node(
            found["name"],
            parent.name if parent else None,
            retryable,
            found["note"].rstrip().endswith("rerouted"),
        )
        nodes[node.name] = node
        path.append(node)
    return nodes


def subclasses(cls: type[PipelineError]) -> Iterator[type[PipelineError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)


def every_error_class() -> list[type[PipelineError]]:
    """``PipelineError`` and its subclasses, once every product module is imported."""
    for package in PACKAGES:
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not module.name.endswith(".__main__"):  # runs the command line
                importlib.import_module(module.name)
    return [PipelineError, *subclasses(PipelineError)]


def test_every_error_class_lives_in_the_errors_module() -> None:
    elsewhere = [
        f"{cls.__module__}.{cls.__name__}"
        for cls in every_error_class()
        if cls.__module__ != errors.__name__
    ]
    assert elsewhere == []


def test_the_docstring_tree_is_the_class_hierarchy() -> None:
    classes = {cls.__name__: cls for cls in every_error_class()}
    nodes = tree()
    missing, unknown = sorted(set(classes) - set(nodes)), sorted(set(nodes) - set(classes))
    assert (missing, unknown) == ([], [])
    for name, node in nodes.items():
        base = classes[name].__bases__[0]
        assert node.parent == (None if base is Exception else base.__name__), name


def test_the_tree_annotates_each_class_retryable_as_its_flag_says() -> None:
    classes = {cls.__name__: cls for cls in every_error_class()}
    disagree = {
        name: node.retryable
        for name, node in tree().items()
        if node.retryable is not classes[name].retryable
    }
    assert disagree == {}


def test_the_tree_marks_exactly_the_rerouted_failures() -> None:
    classes = {cls.__name__: cls for cls in every_error_class()}
    rerouted = {classes[name].code for name, node in tree().items() if node.rerouted}
    assert rerouted == REROUTE_CODES


def test_each_code_a_class_states_is_its_own() -> None:
    stated = [cls.code for cls in every_error_class()[1:] if "code" in vars(cls)]
    assert sorted({code for code in stated if stated.count(code) > 1}) == []


def test_the_non_retryable_codes_are_those_of_the_classes_that_say_so() -> None:
    refused = {cls.code for cls in every_error_class() if not cls.retryable}
    assert refused == NON_RETRYABLE_CODES
    assert {"separation_unavailable", "object_changed", "bad_models_lock"} <= refused
    assert {"bad_config", "startup_failed", "port_in_use"} <= refused
