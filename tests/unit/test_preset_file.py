"""PRESETS_FILE: operator presets derived from the shipped ones, refused with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.domain.errors import ConfigError
from pipeline.standins.comfy_sim.object_info import contract_object_info
from workflows_comfy.preset_file import install_presets_file, read_presets_file
from workflows_comfy.presets import PRESETS, I2VPreset
from workflows_comfy.servable import missing, preset_models

HIGH = "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "presets.toml"
    path.write_text(text)
    return path


def test_a_renamed_file_replaces_the_shipped_name_and_keeps_its_folder(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
[[preset]]
name = "studio-i2v"
base = "wan22-i2v-fp8"
steps = 6
[preset.files]
"{HIGH}" = "studio_high.safetensors"
""",
    )
    presets, rows = read_presets_file(path)
    studio = presets["studio-i2v"]
    assert isinstance(studio, I2VPreset)
    assert studio.diffusion.experts.high_noise == "studio_high.safetensors"
    assert HIGH not in studio.files()
    assert (studio.kind, studio.steps, studio.cfg) == ("i2v", 6, PRESETS["wan22-i2v-fp8"].cfg)
    assert rows["studio_high.safetensors"].folder == "diffusion_models"


def test_installed_presets_are_what_workers_check_against_comfyui(
    tmp_path: Path, restored_presets: None
) -> None:
    path = write(
        tmp_path,
        f"""
[[preset]]
name = "wan22-i2v-fp8"
[preset.files]
"{HIGH}" = "studio_high.safetensors"
""",
    )
    assert install_presets_file(path) == ["wan22-i2v-fp8"]
    lacking = missing(contract_object_info(), "wan22-i2v-fp8")
    assert lacking.model_paths() == ["diffusion_models/studio_high.safetensors"]
    assert ("diffusion_models", "studio_high.safetensors") in {
        (m.folder, m.name) for m in preset_models("wan22-i2v-fp8")
    }


@pytest.mark.parametrize(
    ("body", "line", "says"),
    [
        ('[[preset]]\nname = "a"\nbase = "nope"\n', 1, "base preset 'nope' is not shipped"),
        ('[[preset]]\nname = "wan22-i2v-fp8"\n\n[[preset]]\nname = "b"\nlora = 1\n', 4, "lora"),
        (
            '[[preset]]\nname = "wan22-i2v-gguf"\n[preset.files]\n"x.safetensors" = "y"\n',
            1,
            "loads no file 'x.safetensors'",
        ),
    ],
)
def test_a_bad_preset_is_refused_with_the_file_and_its_line(
    tmp_path: Path, body: str, line: int, says: str
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        read_presets_file(path)
    assert f"{path}:{line}:" in caught.value.message
    assert says in caught.value.message


def test_a_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[[preset]]\nname = "a\n')
    with pytest.raises(ConfigError, match=r"line 2"):
        read_presets_file(path)
