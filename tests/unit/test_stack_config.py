"""What the embedded stack's children are started with (``pipeline.stack.embedded``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.domain.errors import ConfigError
from pipeline.stack import services
from pipeline.stack.embedded import private_settings, stack_config_for
from pipeline.stack.services import ComfyCheckout


@pytest.mark.parametrize(("configured", "drain"), [(None, 5.0), ("600", 5.0), ("2", 2.0)])
def test_the_gpu_worker_hands_back_its_segment_before_pipeline_down_kills_it(
    tmp_path: Path, configured: str | None, drain: float
) -> None:
    """``pipeline down`` SIGKILLs a child still running after ``stop_timeout``: a segment
    it held would wait out its heartbeat timeout after ``pipeline up``, not start at once."""
    model = tmp_path / "htdemucs.safetensors"
    model.write_bytes(b"not read")
    overrides = {"DEMUCS_MODEL_PATH": str(model)}
    if configured is not None:
        overrides["GPU_DRAIN_GRACE_S"] = configured
    config = stack_config_for(private_settings(tmp_path, **overrides))

    gpu = next(child for child in config.children if child.name == "worker-gpu")
    assert float(gpu.env["GPU_DRAIN_GRACE_S"]) == drain
    assert drain <= config.stop_timeout / 2


def _checkout(root: Path, *, venv: str | None = None) -> Path:
    root.mkdir(parents=True)
    (root / "main.py").write_text("# a ComfyUI checkout's entry point\n")
    if venv is not None:
        python = root / venv / "bin" / "python"
        python.parent.mkdir(parents=True)
        python.write_text("")
    return root


@pytest.mark.parametrize(("venv", "python"), [(None, "python3"), ("venv", "venv/bin/python"),
                                              (".venv", ".venv/bin/python")])  # fmt: skip
def test_comfyui_dir_runs_that_checkout_with_its_own_venv_if_it_has_one(
    tmp_path: Path, venv: str | None, python: str
) -> None:
    checkout = _checkout(tmp_path / "ComfyUI", venv=venv)
    config = stack_config_for(private_settings(tmp_path, COMFYUI_DIR=str(checkout)))

    assert config.comfyui is not None
    assert config.comfy_service == "comfyui"
    assert config.comfy_source == str(checkout)
    expected = python if venv is None else str(checkout / python)
    assert str(config.comfyui.python) == expected
    assert config.comfyui.models_dir is None
    assert config.comfy_port is not None
    assert config.public_ports()[config.comfy_port] == "comfyui (COMFYUI_URL)"


def test_without_comfyui_dir_the_stack_runs_comfy_sim(tmp_path: Path) -> None:
    config = stack_config_for(private_settings(tmp_path))

    assert config.comfyui is None
    assert (config.comfy_service, config.comfy_source) == ("comfy-sim", "comfy-sim")
    assert stack_config_for(private_settings(tmp_path), run_comfy=False).comfy_source is None


def test_the_comfyui_process_stays_on_loopback_with_its_folders_under_the_state_dir(
    tmp_path: Path,
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    checkout = ComfyCheckout(_checkout(tmp_path / "ComfyUI"), "python3", models, cpu=True)
    process = services.comfyui(tmp_path / "state", 18188, checkout)

    argv = process.argv
    assert argv[:2] == ["python3", str(checkout.directory / "main.py")]
    assert argv[argv.index("--listen") + 1] == "127.0.0.1"
    assert argv[argv.index("--port") + 1] == "18188"
    root = (tmp_path / "state" / "comfyui").absolute()
    for name in ("input", "output", "temp", "user"):
        assert f"--{name}-directory={root / name}" in argv
        assert (root / name).is_dir()
    assert f"--database-url=sqlite:///{root / 'user' / 'comfyui.db'}" in argv
    assert f"--models-directory={models}" in argv
    assert "--cpu" in argv
    assert process.cwd == checkout.directory
    assert process.env is not None
    assert {k: process.env[k] for k in services.COMFYUI_OFFLINE_ENV} == services.COMFYUI_OFFLINE_ENV
    on_gpu = services.comfyui(tmp_path / "state", 18188, ComfyCheckout(checkout.directory, "py"))
    assert "--cpu" not in on_gpu.argv
    assert not any(arg.startswith("--models-directory") for arg in on_gpu.argv)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"COMFYUI_DIR": "{tmp}"}, "has no main.py"),
        ({"COMFYUI_DIR": "{tmp}/absent"}, "COMFYUI_DIR"),
        ({"COMFYUI_PYTHON": "{tmp}/python"}, "need COMFYUI_DIR"),
        ({"COMFYUI_MODELS_DIR": "{tmp}"}, "need COMFYUI_DIR"),
    ],
)
def test_a_comfyui_checkout_that_cannot_run_is_refused_at_start_up(
    tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    (tmp_path / "python").write_text("")  # a file, but tmp_path has no main.py
    values = {name: value.format(tmp=tmp_path) for name, value in variables.items()}
    with pytest.raises(ConfigError, match=message):
        private_settings(tmp_path, **values)


def test_with_metrics_port_each_embedded_worker_gets_its_own_port(tmp_path: Path) -> None:
    config = stack_config_for(private_settings(tmp_path, METRICS_PORT="29090"))

    ports = {child.name: child.env["METRICS_PORT"] for child in config.children}
    assert ports == {"worker-cpu": "29090", "worker-gpu": "29091", "ingest": "0"}
    assert config.public_ports()[29091] == "worker-gpu's /metrics (METRICS_PORT)"
    assert dict(config.metrics_ports) == {"worker-cpu": 29090, "worker-gpu": 29091}


def test_without_metrics_port_no_child_serves_metrics(tmp_path: Path) -> None:
    config = stack_config_for(private_settings(tmp_path))
    assert {child.env["METRICS_PORT"] for child in config.children} == {"0"}
    assert not config.metrics_ports


def test_a_metrics_port_with_no_port_after_it_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"METRICS_PORT: .* 65535 and the GPU worker's on 65536"):
        stack_config_for(private_settings(tmp_path, METRICS_PORT="65535"))
