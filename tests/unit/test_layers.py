"""Every top-level module of the product stands on exactly one floor of the ``layers``
contract in pyproject.toml, so ``lint-imports`` checks each new module's imports too
(import-linter's ``exhaustive`` option needs containers, which three root packages lack)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_CODE = {"__init__", "__main__", "schemas"}


def floors() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (layers,) = (
        contract["layers"]
        for contract in config["tool"]["importlinter"]["contracts"]
        if contract["type"] == "layers"
    )
    return [name.strip() for floor in layers for name in floor.split("|")]


def product_modules() -> set[str]:
    found = {"activities", "workflows_comfy"}
    for entry in (ROOT / "pipeline").iterdir():
        name = entry.stem if entry.suffix == ".py" else entry.name
        is_package = entry.is_dir() and (entry / "__init__.py").is_file()
        if (is_package or entry.suffix == ".py") and name not in NOT_CODE:
            found.add(f"pipeline.{name}")
    return found


def test_every_top_level_module_is_on_exactly_one_floor() -> None:
    listed = floors()
    assert sorted(listed) == sorted(set(listed)), "a module is on two floors"
    assert set(listed) == product_modules()
