"""``pipeline doctor``'s vocal separation line: judged by what separation routing can reach."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.doctor.temporal import separation_check
from pipeline.domain.queues import worker_queue
from pipeline.fleet.registry import WorkerRecord

NOW = datetime(2026, 11, 30, tzinfo=UTC)
CANNOT = "unavailable: DEMUCS_MODEL_PATH is not set on this worker"


def record(identity: str, separation: str, **serving: list[str]) -> WorkerRecord:
    return WorkerRecord(
        identity=identity,
        task_queue="gpu",
        worker_task_queue=worker_queue("gpu", identity),
        comfyui_url="http://gpu:8188",
        serving=serving,
        nodes=1,
        separation=separation,
        started_at=NOW,
        updated_at=NOW,
    )


def test_a_worker_without_a_model_is_fine_while_another_separates_for_its_presets() -> None:
    check = separation_check(
        [
            record("a", CANNOT, s2v=["wan22-s2v-fp8"]),
            record("b", "demucs: htdemucs.yaml", s2v=["wan22-s2v-fp8"]),
        ]
    )
    assert check.ok
    assert check.detail == "1 of 2 GPU workers cannot separate (separation goes to the others)"


def test_an_audio_preset_only_workers_without_a_model_serve_fails_naming_it() -> None:
    check = separation_check(
        [
            record("a", CANNOT, s2v=["wan22-s2v-fp8"], infinitetalk=["infinitetalk-fp8"]),
            record("b", "demucs: htdemucs.yaml", s2v=["wan22-s2v-fp8"]),
        ]
    )
    assert not check.ok
    assert check.detail.startswith("no live worker that serves infinitetalk-fp8 can separate")
    assert "a: DEMUCS_MODEL_PATH is not set" in check.detail


def test_image_only_presets_need_no_separation() -> None:
    check = separation_check([record("a", CANNOT, i2v=["wan22-i2v-fp8"])])
    assert check.ok


def test_the_stand_in_is_named_as_not_real_separation() -> None:
    check = separation_check([record("a", "stand-in: tiny", s2v=["wan22-s2v-fp8"])])
    assert check.ok
    assert "stand-in model (not real separation" in check.detail


def test_a_model_that_is_set_but_unreadable_is_not_told_to_be_set() -> None:
    unreadable = "unavailable: cannot read htdemucs.safetensors: SafetensorError"
    check = separation_check([record("a", unreadable, s2v=["wan22-s2v-fp8"])])
    assert not check.ok
    assert "a: cannot read htdemucs.safetensors: SafetensorError" in check.detail
    assert check.fix.startswith(
        "point DEMUCS_MODEL_PATH of a GPU worker that serves them at a usable Demucs model"
    )


def test_every_worker_that_could_have_separated_is_named_with_its_own_reason() -> None:
    unreadable = "unavailable: cannot load the Demucs model: bad zip"
    check = separation_check(
        [
            record("a", CANNOT, s2v=["wan22-s2v-fp8"]),
            record("b", unreadable, s2v=["wan22-s2v-fp8"]),
            record("c", CANNOT, i2v=["wan22-i2v-fp8"]),  # serves no audio preset: not named
        ]
    )
    assert not check.ok
    assert (
        "(a: DEMUCS_MODEL_PATH is not set on this worker; "
        "b: cannot load the Demucs model: bad zip)" in check.detail
    )
    assert "c:" not in check.detail
