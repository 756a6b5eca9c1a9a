"""No test module imports another: what tests share lives in ``tests/helpers.py`` or a
tier's ``*_support.py`` module, so collecting one test file never runs another's fixtures or
module-level setup (design review, issue 19)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).parents[1]


def imported_test_modules(source: str) -> list[str]:
    """The dotted names of ``test_*`` modules that ``source`` imports (``import a.test_x``,
    ``from a import test_x``, ``from a.test_x import y``, relative forms included)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found.append(module)
            found += [f"{module}.{alias.name}" for alias in node.names]
    return [name for name in found if name.rsplit(".", 1)[-1].startswith("test_")]


@pytest.mark.parametrize(
    ("source", "imported"),
    [
        ("from tests.integration.test_a import png", ["tests.integration.test_a"]),
        ("from tests.integration import test_a", ["tests.integration.test_a"]),
        ("import tests.unit.test_b as b", ["tests.unit.test_b"]),
        ("from .test_c import x", [".test_c"]),
        ("from tests.helpers import eventually\nimport pytest", []),
    ],
)
def test_the_guard_sees_every_form_of_import(source: str, imported: list[str]) -> None:
    assert imported_test_modules(source) == imported


def test_no_test_module_imports_another() -> None:
    files = sorted(TESTS.rglob("test_*.py"))
    assert len(files) > 50  # the guard looks where the tests are
    offenders = {
        str(path.relative_to(TESTS)): names
        for path in files
        if (names := imported_test_modules(path.read_text()))
    }
    assert offenders == {}
