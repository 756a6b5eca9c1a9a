"""comfy-sim's ``jobs``: ComfyUI 0.33.0's own ``/api/jobs`` answers rebuilt from the queue
items and the ``/history`` entry they came from, and the rules of comfy_execution/jobs.py for
statuses, previews, filters, sorting and pages."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.standins.comfy_sim.jobs import (
    find_job,
    history_job,
    list_jobs,
    outputs_summary,
    previewable_count,
    queue_job,
)

HTTP = Path(__file__).parents[2] / "pipeline" / "standins" / "comfy_sim" / "contract" / "http"


def body(name: str) -> Any:
    return json.loads((HTTP / f"{name}.json").read_text())["body"]


def entry_of(job: dict[str, Any], outputs_to_execute: list[str]) -> dict[str, Any]:
    """The ``/history`` entry a job by id was made from: it carries the whole entry."""
    workflow = job["workflow"]
    item = [job["priority"], job["id"], workflow["prompt"], workflow["extra_data"]]
    return {
        "prompt": [*item, outputs_to_execute],
        "outputs": job["outputs"],
        "status": job["execution_status"],
        "meta": {},
    }


def item(number: int, prompt_id: str, create_time: int | None, **extra: Any) -> list[Any]:
    data = {"create_time": create_time, **extra} if create_time is not None else extra
    return [number, prompt_id, {}, data, ["9"]]


def finished(
    prompt_id: str, create_time: int, end: str, span: tuple[int, int] = (1, 2)
) -> dict[str, Any]:
    """A ``/history`` entry that ended with message ``end`` (``execution_success`` ...)."""
    data = {"prompt_id": prompt_id, "timestamp": span[1]}
    return {
        "prompt": item(0, prompt_id, create_time),
        "outputs": {},
        "status": {
            "status_str": "success" if end == "execution_success" else "error",
            "completed": end == "execution_success",
            "messages": [
                ["execution_start", {"prompt_id": prompt_id, "timestamp": span[0]}],
                [end, data],
            ],
        },
    }


def test_the_real_job_by_id_is_rebuilt_from_its_history_entry() -> None:
    done = body("job_done")
    queued = body("queue_running")["queue_running"][0]
    entry = entry_of(done, queued[4])

    assert find_job(done["id"], [], [], {done["id"]: entry}) == done
    listed = {key: value for key, value in done.items() if key not in ("outputs", "workflow")}
    del listed["execution_status"]
    assert body("jobs_done")["jobs"][0] == listed == history_job(done["id"], entry)


def test_the_real_running_job_is_rebuilt_from_its_queue_item() -> None:
    running = body("queue_running")["queue_running"]

    assert find_job(running[0][1], running, [], {}) == body("job_running")
    assert body("jobs_running")["jobs"][0] == queue_job(running[0], "in_progress")


def test_an_interrupted_prompt_is_cancelled_a_failed_one_failed() -> None:
    ((prompt_id, entry),) = body("history_interrupted").items()
    failed = finished("f", 5, "execution_error")

    cancelled = history_job(prompt_id, entry)
    assert cancelled["status"] == "cancelled"
    assert "execution_error" not in cancelled
    assert cancelled["execution_end_time"] == entry["status"]["messages"][-1][1]["timestamp"]
    assert history_job("f", failed)["status"] == "failed"
    assert history_job("f", failed)["execution_error"] == failed["status"]["messages"][1][1]


def test_a_missing_create_time_and_workflow_id_are_left_out_and_a_workflow_id_kept() -> None:
    job = queue_job(item(3, "a", None), "pending")
    tagged = queue_job(item(3, "a", 7, extra_pnginfo={"workflow": {"id": "w1"}}), "pending")

    assert job == {
        "id": "a",
        "status": "pending",
        "priority": 3,
        "outputs_count": 0,
        "previewable_outputs_count": 0,
    }
    assert tagged["workflow_id"] == "w1"


def test_the_preview_is_the_first_saved_file_else_a_temp_one_else_text() -> None:
    temp = {"filename": "p.png", "subfolder": "", "type": "temp"}
    saved = {"filename": "s.png", "subfolder": "", "type": "output"}
    latent = {"filename": "l.latent", "subfolder": "", "type": "output"}

    count, preview = outputs_summary({"1": {"images": [temp]}, "2": {"images": [saved]}})
    assert (count, preview) == (2, {**saved, "nodeId": "2", "mediaType": "images"})
    assert outputs_summary({"1": {"images": [temp]}})[1] == {
        **temp,
        "nodeId": "1",
        "mediaType": "images",
    }
    text = outputs_summary({"3": {"text": ["x" * 1030]}})
    assert text == (
        0,
        {"content": "x" * 1024, "truncated": True, "nodeId": "3", "mediaType": "text"},
    )
    assert previewable_count({"1": {"latents": [latent], "images": [saved]}}) == 1
    assert (
        outputs_summary({"1": {"latents": [latent], "images": [saved], "animated": [True]}})[0] == 2
    )


def test_a_3d_file_name_is_an_output_file() -> None:
    count, preview = outputs_summary({"5": {"result": ["mesh.GLB", "not a file"]}})

    assert count == 1
    assert preview == {
        "filename": "mesh.GLB",
        "type": "output",
        "subfolder": "",
        "mediaType": "3d",
        "nodeId": "5",
    }


HISTORY = {
    "old": finished("old", 10, "execution_success", (100, 190)),
    "bad": finished("bad", 30, "execution_error", (300, 310)),
    "stop": finished("stop", 20, "execution_interrupted", (200, 205)),
}
RUNNING = [item(4, "run", 40)]
PENDING = [item(5, "wait", 50), item(6, "same", 50)]


def ids(jobs: list[dict[str, Any]]) -> list[str]:
    return [job["id"] for job in jobs]


def test_jobs_are_newest_first_ties_in_queue_order_and_total_before_paging() -> None:
    every, total = list_jobs(RUNNING, PENDING, HISTORY)
    page, paged_total = list_jobs(RUNNING, PENDING, HISTORY, offset=1, limit=2)

    assert ids(every) == ["wait", "same", "run", "bad", "stop", "old"]
    assert total == paged_total == 6
    assert ids(page) == ["same", "run"]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["failed", "cancelled"], ["bad", "stop"]),
        (["in_progress"], ["run"]),
        (["pending", "completed"], ["wait", "same", "old"]),
        ([], []),
    ],
)
def test_jobs_filtered_by_status(statuses: list[str], expected: list[str]) -> None:
    assert ids(list_jobs(RUNNING, PENDING, HISTORY, statuses=statuses)[0]) == expected


def test_jobs_sorted_by_execution_duration_ascending_queue_items_count_as_zero() -> None:
    jobs, _ = list_jobs(RUNNING, [], HISTORY, sort_by="execution_duration", sort_order="asc")

    assert ids(jobs) == ["run", "stop", "bad", "old"]


def test_jobs_filtered_by_workflow_id() -> None:
    tagged = [item(7, "tagged", 1, extra_pnginfo={"workflow": {"id": "w1"}})]

    assert ids(list_jobs(RUNNING, tagged, HISTORY, workflow_id="w1")[0]) == ["tagged"]


def test_an_unknown_job_is_none_and_history_wins_over_the_queue() -> None:
    history = {"run": copy.deepcopy(HISTORY["old"])}

    assert find_job("nobody", RUNNING, PENDING, HISTORY) is None
    assert find_job("wait", RUNNING, PENDING, HISTORY) == queue_job(PENDING[0], "pending")
    found = find_job("run", RUNNING, PENDING, history)
    assert found is not None
    assert found["status"] == "completed"
