"""``ServerInfo``: what a ComfyUI's ``/system_stats`` says about it, as servers answered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.comfy.system import ServerInfo

DATA = Path(__file__).parents[1] / "data"


def _body(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    body = document.get("body", document)  # the 0.3.64 capture wraps it in its request
    assert isinstance(body, dict)
    return body


@pytest.mark.parametrize(
    ("capture", "version", "pytorch"),
    [
        (DATA / "comfyui" / "system_stats.json", "0.33.0", "2.14.1+cu130"),
        (DATA / "comfyui_contract" / "http" / "get_system_stats.json", "0.3.64", None),
    ],
)
def test_a_real_servers_system_stats_name_its_version_and_devices(
    capture: Path, version: str, pytorch: str | None
) -> None:
    body = _body(capture)
    info = ServerInfo.parse(body)

    assert info.version == version
    assert info.pytorch == (pytorch or body["system"]["pytorch_version"])
    assert info.devices == [device["name"] for device in body["devices"]]
    assert info.describe() == f"ComfyUI {version} ({', '.join(info.devices)})"


def test_fields_a_server_leaves_out_read_as_unknown() -> None:
    info = ServerInfo.parse({"system": {}, "devices": []})

    assert (info.version, info.pytorch, info.devices) == ("unknown", "unknown", [])
    assert info.describe() == "ComfyUI unknown (no devices)"


@pytest.mark.parametrize("body", [{}, {"system": []}, {"system": {}, "devices": {}}])
def test_a_body_of_another_shape_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not a /system_stats body"):
        ServerInfo.parse(body)
