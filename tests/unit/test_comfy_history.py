"""/history records, as a real ComfyUI server returned them (tests/data/comfyui_contract)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.comfy.history import HistoryEntry, OutputFile, failure_error, parse_history
from pipeline.comfy.messages import ExecutionError, ExecutionInterrupted
from pipeline.domain.errors import (
    ExecutionFailed,
    Interrupted,
    MessageError,
    NodeInputRejected,
    OutOfMemory,
)

CONTRACT = Path(__file__).parents[1] / "data" / "comfyui_contract"


def captured(name: str) -> tuple[str, dict[str, Any]]:
    body = json.loads((CONTRACT / "history" / name).read_text())
    (prompt_id,) = body
    return prompt_id, body


def entry(name: str) -> HistoryEntry:
    prompt_id, body = captured(name)
    parsed = parse_history(body, prompt_id)
    assert parsed is not None
    return parsed


def test_unknown_prompt_has_no_record_yet() -> None:
    body = json.loads((CONTRACT / "http" / "get_history_unknown_id.json").read_text())["body"]
    assert body == {}
    assert parse_history(body, "0f0f0f0f-not-run") is None


def test_save_image_output_is_listed() -> None:
    record = entry("a_success_core.json")
    assert (record.succeeded, record.completed, record.failure()) == (True, True, None)
    assert record.output_files() == [OutputFile("3", "core_00001_.png", "contract", "output")]


def test_core_save_video_is_under_images_and_marked_animated() -> None:
    assert entry("c_video_core_savevideo.json").output_files() == [
        OutputFile("4", "contract_core_00001_.mp4", "video", "output", animated=True)
    ]


def test_vhs_video_combine_is_under_gifs() -> None:
    assert entry("c_video_vhs_videocombine.json").output_files() == [
        OutputFile("4", "contract_vhs_00001-audio.mp4", "video", "output")
    ]


def test_failed_run_has_no_outputs_and_names_the_error() -> None:
    record = entry("f2_runtime_error_contractoom.json")
    assert (record.succeeded, record.completed, record.output_files()) == (False, False, [])
    failure = record.failure()
    assert isinstance(failure, ExecutionError)
    assert (failure.node_type, failure.exception_type) == ("ContractOOM", "torch.OutOfMemoryError")


def test_interrupted_run_names_the_interrupted_node() -> None:
    failure = entry("e_interrupt.json").failure()
    assert isinstance(failure, ExecutionInterrupted)
    assert (failure.node_id, failure.node_type) == ("2", "ContractSlowProgress")


@pytest.mark.parametrize(
    "record",
    [
        [],
        {"status": {"messages": "nope"}},
        {"status": {"messages": [["executing"]]}},
        {"outputs": {"3": []}},
    ],
)
def test_malformed_records_raise_message_error(record: Any) -> None:
    with pytest.raises(MessageError):
        parse_history({"p": record}, "p")


def test_torch_out_of_memory_maps_to_out_of_memory() -> None:
    error = failure_error(entry("f2_runtime_error_contractoom.json"))
    assert type(error) is OutOfMemory
    assert error.detail["node_type"] == "ContractOOM"
    assert "node 2 (ContractOOM)" in error.message


def test_runtime_error_mentioning_memory_is_an_execution_failure_not_oom() -> None:
    error = failure_error(entry("f_runtime_error_contractfail.json"))
    assert type(error) is ExecutionFailed
    assert "RuntimeError" in error.message
    assert "simulated CUDA out of memory" in error.message


def test_interrupt_maps_to_interrupted() -> None:
    error = failure_error(entry("e_interrupt.json"))
    assert type(error) is Interrupted
    assert error.detail["node_id"] == "2"


def test_socket_message_explains_a_record_without_messages() -> None:
    bare = HistoryEntry("p", "error", False, {}, ())
    seen = ExecutionInterrupted("p", "5", "KSamplerAdvanced")
    assert type(failure_error(bare, seen)) is Interrupted
    assert type(failure_error(bare)) is ExecutionFailed


def test_a_node_refusing_its_inputs_on_comfyui_0_33_is_not_retried() -> None:
    # The capture holds the record itself, the value /history/{id} keys by the prompt id.
    path = CONTRACT.parent / "comfyui" / "edge_trim_past_end.history.json"
    captured_record = json.loads(path.read_text())
    prompt_id = captured_record["prompt"][1]
    record = parse_history({prompt_id: captured_record}, prompt_id)
    assert record is not None

    error = failure_error(record)

    assert isinstance(error, NodeInputRejected)
    assert not error.retryable
    assert error.detail["node_type"] == "TrimAudioDuration"
    assert error.detail["exception_type"] == "ValueError"
    assert "TrimAudioDuration: Start time must be less than end time" in error.message


def test_execution_seconds_run_from_execution_start_to_the_last_message() -> None:
    transcripts = CONTRACT.parents[2] / "pipeline" / "standins" / "comfy_sim" / "contract"
    record = json.loads((transcripts / "transcripts" / "i2v_seg0.history.json").read_text())
    stamps = [data["timestamp"] for _, data in record["status"]["messages"]]
    prompt_id = record["prompt"][1]

    parsed = parse_history({prompt_id: record}, prompt_id)

    assert parsed is not None
    assert parsed.execution_s == (stamps[-1] - stamps[0]) / 1000
    assert parsed.execution_s is not None
    assert parsed.execution_s > 0


def test_a_record_without_timestamps_has_no_execution_seconds() -> None:
    body = {"p": {"status": {"messages": [["execution_start", {"prompt_id": "p"}]]}}}

    parsed = parse_history(body, "p")

    assert parsed is not None
    assert parsed.execution_s is None
