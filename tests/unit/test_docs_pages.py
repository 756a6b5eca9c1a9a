"""The documents that must follow the code: the generated docs pages and the package map.

``docs/configuration/variables.md`` is rendered from ``Settings`` (``make docs``); the README
stays a landing page whose links resolve; every package's docstring names each of its
modules, so the tree the docstrings describe is the tree on disk (the review's defect 28:
``ingest`` and ``workflows`` had drifted).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from pipeline.config import VARIABLES_PAGE, Settings, variables_markdown

ROOT = Path(__file__).parents[2]
TOP_PACKAGES = ("pipeline", "activities", "workflows_comfy")
NOT_MODULES = {"__init__", "__main__"}


def packages() -> list[Path]:
    return sorted(init.parent for top in TOP_PACKAGES for init in (ROOT / top).rglob("__init__.py"))


def modules(package: Path) -> list[str]:
    """The package's modules and subpackages, by the name an import would use."""
    files = [path.stem for path in package.glob("*.py") if path.stem not in NOT_MODULES]
    subpackages = [path.parent.name for path in package.glob("*/__init__.py")]
    return sorted(files + subpackages)


def test_the_variables_page_is_rendered_from_settings() -> None:
    assert (ROOT / VARIABLES_PAGE).read_text() == variables_markdown(), "run `make docs`"


def test_every_variable_has_a_description_and_a_row() -> None:
    page = variables_markdown()
    for field in Settings.model_fields.values():
        assert field.description, f"{field.alias} has no description in pipeline/config.py"
        assert f"| `{field.alias}` |" in page


@pytest.mark.parametrize("package", packages(), ids=lambda path: str(path.relative_to(ROOT)))
def test_the_package_docstring_names_every_module(package: Path) -> None:
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    missing = [
        name
        for name in modules(package)
        if not re.search(rf"``(?:[\w.]+\.)?{name}(?:\.py)?``", docstring)
    ]
    assert not missing, f"{package.relative_to(ROOT)}/__init__.py does not name {missing}"


def test_the_readme_is_a_landing_page_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150, "the README is a landing page: move detail to docs/"
    assert "make demo" in readme
    assert "make test" in readme
    for page in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / page).exists(), f"README links to {page}, which does not exist"
