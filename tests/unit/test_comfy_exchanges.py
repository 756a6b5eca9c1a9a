"""tests.comfy_exchanges: a real exchange matches itself with other ids, times and numbers,
and every kind of difference the HTTP contract test must catch is caught."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.comfy_exchanges import body_differences, differences

HTTP = Path(__file__).parents[2] / "pipeline" / "standins" / "comfy_sim" / "contract" / "http"
JOB_ID = "5c993a39-a43e-4900-b9e0-7254de507596"


def job_exchange() -> dict[str, Any]:
    """A ``GET /api/jobs/{id}`` as ComfyUI 0.33.0 answered it for a finished prompt, cut
    down to one of each kind of field."""
    return {
        "request": {"method": "GET", "path": f"/api/jobs/{JOB_ID}"},
        "status": 200,
        "body": {
            "id": JOB_ID,
            "status": "completed",
            "priority": 9,
            "create_time": 1796642033828,
            "preview_output": {"filename": "x_00001_.mp4", "nodeId": "17", "mediaType": "images"},
            "outputs": {"17": {"images": [{"filename": "x_00001_.mp4"}], "animated": [True]}},
            "execution_status": {
                "status_str": "success",
                "completed": True,
                "messages": [["execution_start", {"prompt_id": JOB_ID, "timestamp": 1}]],
            },
        },
    }


def remade(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with every UUID (key or string) replaced by a fresh one, consistently (the
    same in ``ids``), and every integer but a bool changed."""
    if isinstance(value, dict):
        return {remade(k, ids): remade(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [remade(v, ids) for v in value]
    if isinstance(value, str):
        try:
            uuid.UUID(value)
        except ValueError:
            return value
        return ids.setdefault(value, str(uuid.uuid4()))
    if isinstance(value, int) and not isinstance(value, bool):
        return value + 7
    return value


@pytest.mark.parametrize("name", sorted(p.stem for p in HTTP.glob("*.json")))
def test_a_real_exchange_matches_itself_with_other_ids_times_and_numbers(name: str) -> None:
    real = json.loads((HTTP / f"{name}.json").read_text())

    ids: dict[str, str] = {}
    sim = {**real, "request": remade(real["request"], ids), "body": remade(real["body"], ids)}

    assert differences(real, sim) == []


def test_other_ids_timestamps_file_counters_and_numbers_are_accepted() -> None:
    real = job_exchange()
    sim = {**real, "body": remade(real["body"], {})}
    sim["body"]["preview_output"]["filename"] = "x_00002_.mp4"
    sim["body"]["outputs"]["17"]["images"][0]["filename"] = "x_00002_.mp4"

    assert sim["body"]["id"] != real["body"]["id"]
    assert sim["body"]["create_time"] != real["body"]["create_time"]
    assert differences(real, sim) == []


def test_a_missing_key_is_caught_where_it_is() -> None:
    real = job_exchange()
    sim = copy.deepcopy(real)
    del sim["body"]["preview_output"]["mediaType"]

    assert differences(real, sim) == ["body.preview_output: keys missing ['mediaType'], extra []"]


def test_an_extra_key_is_caught() -> None:
    real = job_exchange()
    sim = copy.deepcopy(real)
    sim["body"]["pagination"] = {}

    assert differences(real, sim) == ["body: keys missing [], extra ['pagination']"]


@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [
        ("priority", 9.0, "body.priority: real is int 9, sim float 9.0"),
        ("create_time", "1796642033828", "body.create_time: real is int"),
        ("outputs", [], "body.outputs: real is object"),
        ("preview_output", None, "body.preview_output: real is object"),
    ],
)
def test_a_changed_type_is_caught(where: str, value: Any, expected: str) -> None:
    real = job_exchange()
    sim = copy.deepcopy(real)
    sim["body"][where] = value

    (found,) = differences(real, sim)
    assert found.startswith(expected)


def test_a_changed_status_string_is_caught() -> None:
    real = job_exchange()
    sim = copy.deepcopy(real)
    sim["body"]["status"] = "success"
    sim["body"]["execution_status"]["status_str"] = "error"

    assert differences(real, sim) == [
        "body.status: real 'completed', sim 'success'",
        "body.execution_status.status_str: real 'success', sim 'error'",
    ]


def test_a_changed_event_name_and_a_flipped_flag_are_caught() -> None:
    real = job_exchange()
    sim = copy.deepcopy(real)
    sim["body"]["execution_status"]["messages"][0][0] = "execution_started"
    sim["body"]["outputs"]["17"]["animated"] = [False]

    assert differences(real, sim) == [
        "body.outputs.17.animated[0]: real True, sim False",
        "body.execution_status.messages[0][0]: real 'execution_start', sim 'execution_started'",
    ]


def test_a_list_of_another_length_is_caught() -> None:
    real = {"queue_running": [[10, JOB_ID, {}, {}, ["17"]]], "queue_pending": []}
    sim = {"queue_running": [[10, JOB_ID, {}, {}, ["17"]]], "queue_pending": [[11, JOB_ID]]}

    assert body_differences(real, sim) == ["body.queue_pending: real has 0 items, sim 1"]


def test_history_keyed_by_another_prompt_id_matches_and_an_empty_one_does_not() -> None:
    real: dict[str, Any] = {JOB_ID: {"outputs": {}}}

    assert body_differences(real, {str(uuid.uuid4()): {"outputs": {}}}) == []
    assert body_differences(real, {}) == ["body: keys missing ['<id 0>'], extra []"]


def test_an_error_type_in_node_errors_is_protocol_but_its_details_are_not() -> None:
    error = {"type": "value_not_in_list", "message": "Value not in list", "details": "a: 'x'"}
    real: dict[str, Any] = {"node_errors": {"4": {"errors": [error], "class_type": "UNETLoader"}}}
    sim = copy.deepcopy(real)
    sim["node_errors"]["4"]["errors"][0]["details"] = "a: 'y' not in [...]"

    assert body_differences(real, sim) == []
    sim["node_errors"]["4"]["errors"][0]["type"] = "required_input_missing"
    assert body_differences(real, sim) == [
        "body.node_errors.4.errors[0].type: real 'value_not_in_list', sim 'required_input_missing'"
    ]


def test_a_changed_status_code_or_path_is_caught() -> None:
    real = job_exchange()
    sim = copy.deepcopy(real)
    sim["status"], sim["body"] = 404, "404: Not Found"
    sim["request"]["path"] = f"/jobs/{JOB_ID}"

    assert differences(real, sim)[:2] == [
        "request path: real '/api/jobs/<id>', sim '/jobs/<id>'",
        "status: real 200, sim 404",
    ]


def test_a_command_line_of_another_length_is_accepted_but_not_of_another_type() -> None:
    real = {"system": {"argv": ["main.py", "--cpu"]}}

    assert body_differences(real, {"system": {"argv": ["pytest"]}}) == []
    assert body_differences(real, {"system": {"argv": ["pytest", 3]}}) == [
        "body.system.argv[1]: real is str 'main.py', sim int 3"
    ]
