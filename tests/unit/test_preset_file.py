"""PRESETS_FILE: operator presets derived from the shipped ones, refused with file and line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli.context import ExitCode
from pipeline.domain.errors import ConfigError
from pipeline.domain.manifest import Manifest
from pipeline.domain.quality import QcPolicy, QualityThresholds
from pipeline.standins.comfy_sim.object_info import contract_object_info
from workflows_comfy.preset_file import install_presets_file, json_schema, read_presets_file
from workflows_comfy.presets import PRESETS, I2VPreset, qc_policy
from workflows_comfy.servable import missing, preset_models

HIGH = "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"
ROOT = Path(__file__).parents[2]
SCHEMA_FILE = ROOT / "pipeline" / "schemas" / "presets.v1.json"


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
        ('[[preset]]\nname = "a"\nbase = "wan22-i2v-fp8"\nsteps = "6"\n', 1, "steps"),
        (
            '[[preset]]\nname = "wan22-i2v-fp8"\nbase = "wan22-s2v-fp8"\n',
            1,
            "shipped i2v preset (the default of i2v drops); an s2v preset cannot replace it",
        ),
        (
            '[[preset]]\nname = "wan22-i2v-gguf"\n[preset.files]\n"x.safetensors" = "y"\n',
            1,
            "loads no file 'x.safetensors'",
        ),
        (
            '[[preset]]\nname = "wan22-i2v-fp8"\n[preset.quality]\nmax_blak_ratio = 0.1\n',
            1,
            "quality.max_blak_ratio: Extra inputs are not permitted",
        ),
        ('[[preset]]\nname = "wan22-i2v-fp8"\nqc = "strict"\n', 1, "qc: Input should be 'off'"),
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


def test_a_preset_changes_its_quality_gate_threshold_by_threshold(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[preset]]
name = "studio-i2v"
base = "wan22-i2v-fp8"
qc = "report"
[preset.quality]
max_black_ratio = 0.2
rerender_attempts = 1
""",
    )
    studio = read_presets_file(path)[0]["studio-i2v"]
    shipped = PRESETS["wan22-i2v-fp8"].quality
    assert studio.qc is QcPolicy.REPORT
    assert studio.quality == shipped.model_copy(
        update={"max_black_ratio": 0.2, "rerender_attempts": 1}
    )
    assert studio.quality != shipped


def test_shipped_presets_gate_with_the_default_thresholds_and_rerender() -> None:
    assert {(p.qc, p.quality) for p in PRESETS.values()} == {
        (QcPolicy.RERENDER, QualityThresholds())
    }


def test_a_manifests_qc_overrides_its_presets() -> None:
    base = {"kind": "i2v", "image": "a.png"}
    assert qc_policy(Manifest.model_validate(base)) is QcPolicy.RERENDER
    assert qc_policy(Manifest.model_validate({**base, "qc": "off"})) is QcPolicy.OFF


def test_a_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[[preset]]\nname = "a\n')
    with pytest.raises(ConfigError, match=r"line 2"):
        read_presets_file(path)


def test_published_schema_is_the_model_schema() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema(), "run `make schema`"


def test_the_readme_example_is_a_valid_presets_file(tmp_path: Path) -> None:
    readme = (ROOT / "docs" / "presets.md").read_text()
    example = re.search(r"```toml\n(\[\[preset\]\].*?)```", readme, re.DOTALL)
    assert example is not None
    path = write(tmp_path, example.group(1))
    presets, _ = read_presets_file(path)
    assert "studio-i2v-6step" in presets


def test_a_bad_presets_file_stops_any_command_with_one_line_and_exit_code_2(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, '[[preset]]\nname = "a"\nbase = "nope"\n')
    refused = subprocess.run(
        [sys.executable, "-m", "pipeline", "workers"],
        env={"PRESETS_FILE": str(path), "PIPELINE_STATE_DIR": str(tmp_path), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == ExitCode.USAGE
    assert refused.stderr.startswith(f"error: {path}:1: base preset 'nope' is not shipped")
    assert refused.stderr.count("\n") == 1
