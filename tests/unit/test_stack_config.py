"""What the embedded stack's children are started with (``pipeline.stack.embedded``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.stack.embedded import private_settings, stack_config_for


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
