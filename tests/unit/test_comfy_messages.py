"""WebSocket frames, as a real ComfyUI server sent them (tests/data/comfyui_contract/ws)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.comfy.messages import (
    Executed,
    Executing,
    ExecutionCached,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionStart,
    ExecutionSuccess,
    FeatureFlags,
    NodeProgress,
    ProgressState,
    Status,
    Unknown,
    parse_text,
)
from pipeline.domain.errors import MessageError

WS = Path(__file__).parents[1] / "data" / "comfyui_contract" / "ws"
TRANSCRIPTS = sorted(WS.glob("*.jsonl"))


def frames(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def texts(path: Path) -> list[str]:
    return [json.dumps(f["data"]) for f in frames(path) if f["kind"] == "text"]


def test_the_contract_has_transcripts() -> None:
    assert len(TRANSCRIPTS) >= 10


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_every_captured_text_frame_parses_to_a_known_message(path: Path) -> None:
    for raw in texts(path):
        message = parse_text(raw)
        assert not isinstance(message, Unknown), raw[:200]


def test_successful_run_reads_in_protocol_order() -> None:
    messages = [parse_text(raw) for raw in texts(WS / "a_success_core.jsonl")]
    connect = messages[0]
    assert isinstance(connect, Status)
    assert connect.queue_remaining == 0
    assert connect.sid
    prompt_id = next(m.prompt_id for m in messages if isinstance(m, ExecutionStart))
    ours = [m for m in messages if not isinstance(m, Status | ProgressState)]
    assert ours == [
        ExecutionStart(prompt_id),
        ExecutionCached(prompt_id, ()),
        Executing(prompt_id, "1", "1"),
        Executing(prompt_id, "2", "2"),
        Executing(prompt_id, "3", "3"),
        Executed(
            prompt_id,
            "3",
            {
                "images": [
                    {"filename": "core_00001_.png", "subfolder": "contract", "type": "output"}
                ]
            },
        ),
        ExecutionSuccess(prompt_id),
        Executing(prompt_id, None, None),
    ]


def test_broadcast_status_has_no_sid() -> None:
    statuses = [
        m for m in map(parse_text, texts(WS / "a_success_core.jsonl")) if isinstance(m, Status)
    ]
    assert [s.queue_remaining for s in statuses] == [0, 1, 1, 0]
    assert all(s.sid is None for s in statuses[1:])


def test_progress_values_are_numbers_whether_int_or_float() -> None:
    messages = [parse_text(raw) for raw in texts(WS / "d_progress_slow8.jsonl")]
    progress = [m for m in messages if isinstance(m, NodeProgress)]
    assert [(p.node, p.value, p.max) for p in progress] == [
        ("2", float(i), 8.0) for i in range(1, 9)
    ]
    state = next(m for m in messages if isinstance(m, ProgressState))
    assert state.nodes["2"].state == "running"


def test_out_of_memory_error_carries_exception_type() -> None:
    messages = [parse_text(raw) for raw in texts(WS / "f2_runtime_error_contractoom.jsonl")]
    (error,) = [m for m in messages if isinstance(m, ExecutionError)]
    assert (error.node_id, error.node_type) == ("2", "ContractOOM")
    assert error.exception_type == "torch.OutOfMemoryError"
    assert error.exception_message.startswith("CUDA out of memory")
    assert error.traceback


def test_interrupt_names_the_node_and_has_no_exception() -> None:
    messages = [parse_text(raw) for raw in texts(WS / "e_interrupt.jsonl")]
    (stop,) = [m for m in messages if isinstance(m, ExecutionInterrupted)]
    assert (stop.node_id, stop.node_type) == ("2", "ContractSlowProgress")


def test_feature_flags_answer_keeps_every_flag() -> None:
    messages = [parse_text(raw) for raw in texts(WS / "d3_progress_preview_feature_flags.jsonl")]
    (flags,) = [m for m in messages if isinstance(m, FeatureFlags)]
    assert flags.flags == {"supports_preview_metadata": True, "max_upload_size": 104857600}


def test_unknown_message_types_are_tolerated() -> None:
    message = parse_text('{"type": "crystools.monitor", "data": {"cpu_utilization": 3}}')
    assert message == Unknown("crystools.monitor", {"cpu_utilization": 3})


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        '{"data": {}}',
        '{"type": "progress", "data": {"value": "x"}}',
        '{"type": "execution_start", "data": {}}',
    ],
)
def test_malformed_frames_raise_message_error(raw: str) -> None:
    with pytest.raises(MessageError):
        parse_text(raw)
