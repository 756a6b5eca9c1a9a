"""``pipeline/weights/tiny.py``: the tiny files' specs against the layout a real ComfyUI
0.33.0 expects (``tests/data/comfyui/tiny_key_layout.json``), and what the writer writes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import gguf
import pytest
from click.testing import CliRunner
from safetensors import safe_open

from pipeline.cli.app import cli
from pipeline.domain.errors import UnknownPreset
from pipeline.weights.tiny import LAYOUTS, TINY_FILES, FileSpec, file_spec, tiny_specs, write_file
from workflows_comfy.models import model_files
from workflows_comfy.presets import PRESETS

LAYOUT_PATH = Path(__file__).parents[1] / "data" / "comfyui" / "tiny_key_layout.json"
CAPTURED: dict[str, dict[str, list[int]]] = json.loads(LAYOUT_PATH.read_text("utf-8"))
FP8_EXTRAS = ("scale_weight", "scaled_fp8")
ATTENTION = ("self_attn", "cross_attn")


def captured_part(spec: FileSpec) -> dict[str, tuple[int, ...]]:
    """The spec's tensors that stand for model weights (not fp8 scales, markers or the
    tokenizer), key → shape."""
    return {
        key: tensor.shape
        for key, tensor in spec.tensors.items()
        if not key.endswith(FP8_EXTRAS) and key != "spiece_model"
    }


def wanted(architecture: str) -> dict[str, tuple[int, ...]]:
    return {key: tuple(shape) for key, shape in CAPTURED[architecture].items()}


@pytest.mark.parametrize("architecture", sorted(set(CAPTURED) - {"umt5_xxl"}))
def test_each_layout_equals_the_captured_one(architecture: str) -> None:
    assert LAYOUTS[architecture]() == wanted(architecture)


def test_the_umt5_layout_is_a_captured_subset_with_the_detection_key() -> None:
    layout, captured = LAYOUTS["umt5_xxl"](), wanted("umt5_xxl")
    assert {key: captured.get(key) for key in layout} == layout
    assert layout["encoder.block.23.layer.1.DenseReluDense.wi_1.weight"] == (10240, 4096)
    norms = {key for key in captured if "layer_norm" in key or "relative_attention_bias" in key}
    assert norms <= set(layout)


def test_every_file_of_every_preset_has_a_spec_in_its_models_toml_folder() -> None:
    names = {file for p in PRESETS.values() for file in p.files()}
    specs = {spec.name: spec for spec in tiny_specs()}
    assert set(specs) == names
    for name, spec in specs.items():
        assert spec.folder == model_files()[name].folder


@pytest.mark.parametrize("name", sorted(TINY_FILES))
def test_every_spec_holds_its_architecture_as_captured(name: str) -> None:
    spec = file_spec(name)
    if spec.form == "lora":
        for key, tensor in spec.tensors.items():
            layer = key.removeprefix("diffusion_model.")
            for suffix in (".lora_up.weight", ".lora_down.weight", ".alpha"):
                layer = layer.removesuffix(suffix)
            out_features, in_features = CAPTURED[spec.architecture][f"{layer}.weight"]
            if key.endswith("lora_up.weight"):
                assert tensor.shape == (out_features, 4)
            elif key.endswith("lora_down.weight"):
                assert tensor.shape == (4, in_features)
            else:
                assert key.endswith(".alpha")
                assert tensor.shape == ()
    elif spec.form == "text_encoder":
        assert captured_part(spec) == LAYOUTS["umt5_xxl"]()
        assert all(t.dtype == "F16" for k, t in spec.tensors.items() if k != "spiece_model")
        assert spec.tensors["spiece_model"].dtype == "U8"
    else:
        assert captured_part(spec) == wanted(spec.architecture)


def test_fp8_scaled_files_quantize_only_block_linears_with_a_scale_each() -> None:
    spec = file_spec("wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors")
    fp8 = {key for key, t in spec.tensors.items() if t.dtype == "F8_E4M3"}
    assert spec.tensors["scaled_fp8"].dtype == "F8_E4M3"
    linears = fp8 - {"scaled_fp8"}
    assert linears == {
        f"blocks.0.{layer}.weight"
        for layer in (
            *(f"{a}.{p}" for a in ("self_attn", "cross_attn") for p in "qkvo"),
            "ffn.0",
            "ffn.2",
        )
    }
    for key in linears:
        assert spec.tensors[key.removesuffix("weight") + "scale_weight"].dtype == "F32"


def test_all_files_together_stay_under_1_gb() -> None:
    assert sum(spec.nbytes for spec in tiny_specs()) < 10**9


def test_small_files_read_back_with_the_specs_keys_shapes_and_dtypes(tmp_path: Path) -> None:
    for spec in tiny_specs(["wan22-i2v-fp8"]):
        if spec.nbytes > 10**7:  # the umt5 file: 85 MB
            continue
        path = write_file(spec, tmp_path)
        with safe_open(str(path), framework="numpy") as f:
            slices = {key: f.get_slice(key) for key in f.keys()}  # noqa: SIM118
            found = {key: (s.get_dtype(), tuple(s.get_shape())) for key, s in slices.items()}
        assert found == {key: (t.dtype, t.shape) for key, t in spec.tensors.items()}


def test_a_gguf_holds_the_wan_tensors_and_architecture(tmp_path: Path) -> None:
    spec = file_spec("Wan2.2-I2V-A14B-HighNoise-Q4_K_M.gguf")
    reader = gguf.GGUFReader(write_file(spec, tmp_path))
    field = reader.get_field("general.architecture")
    assert field is not None
    assert bytes(field.parts[field.data[-1]]).decode() == "wan"
    found = {t.name: tuple(int(n) for n in reversed(t.shape)) for t in reader.tensors}
    assert found == wanted("wan22_i2v_t2vtype")


def test_writing_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    spec = file_spec("wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors")
    first = hashlib.sha256(write_file(spec, tmp_path / "a").read_bytes()).hexdigest()
    second = hashlib.sha256(write_file(spec, tmp_path / "b").read_bytes()).hexdigest()
    other = file_spec("wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors")
    third = hashlib.sha256(write_file(other, tmp_path / "c").read_bytes()).hexdigest()
    assert first == second != third


def test_an_unknown_preset_is_refused() -> None:
    with pytest.raises(UnknownPreset, match="nope"):
        tiny_specs(["nope"])


def run_pipeline(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command line: one-line errors and exit codes come from ``main``."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, check=False
    )


def test_cli_with_a_bad_preset_exits_2_with_one_line(tmp_path: Path) -> None:
    done = run_pipeline("models", "tiny", "--dest", str(tmp_path), "--preset", "nope")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("error: unknown model preset 'nope'; known presets: ")
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


@pytest.mark.slow
def test_cli_writes_a_presets_files_and_reports_them_as_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["models", "tiny", "--dest", str(tmp_path), "--preset", "wan22-i2v-gguf", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    paths = {f["path"] for f in report["files"]}
    assert paths == {spec.path for spec in tiny_specs(["wan22-i2v-gguf"])}
    sizes = {f["path"]: (tmp_path / f["path"]).stat().st_size for f in report["files"]}
    assert {f["path"]: f["bytes"] for f in report["files"]} == sizes
    assert report["total_bytes"] == sum(sizes.values())
