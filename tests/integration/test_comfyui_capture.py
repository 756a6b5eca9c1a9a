"""``pipeline comfyui capture`` against comfy-sim (a real ComfyUI: ``tests/real_comfyui/
test_capture.py``): the layout it writes and the format of every file in it.

What is checked is the capture's own work: the files exist and parse, every WebSocket line
is ``{"t", "type", "data"}`` with ``t`` rising from connect to ``executing`` null of the
scenario's prompt, the graphs are the builders', and ``object_info.json`` holds exactly the
entries of the nodes the graphs use. What the server answered is comfy-sim's business
(``test_comfy_sim_contract.py``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from pipeline.comfy.capture.graphs import scenarios
from pipeline.comfy.capture.nodes import graph_classes, preset_graphs
from pipeline.comfy.capture.record import TERMINAL
from pipeline.comfy.capture.run import HTTP_SCENARIOS
from pipeline.stack.process import free_port
from pipeline.standins.comfy_sim import run_sim
from tests.capture_checks import EXAMPLES, TRANSCRIPTS, check_transcript, invoke
from workflows_comfy.bound import read_workflow

pytestmark = pytest.mark.integration

STEP_DELAY = 0.3
"""Seconds per simulated step: long enough that ``http_jobs`` and ``http_cancel`` find their
prompt still running when they ask."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def captured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Path, int]]:
    """One whole capture of comfy-sim: the folder and the command's exit code."""
    out = tmp_path_factory.mktemp("capture")
    async with run_sim("127.0.0.1", 0, tmp_path_factory.mktemp("sim"), STEP_DELAY) as url:
        args = ("comfyui", "capture", "--url", url, "--out", str(out), "--examples", str(EXAMPLES))
        code, stdout, _ = await asyncio.to_thread(invoke, *args, "--json")
    assert json.loads(stdout) == json.loads((out / "capture.json").read_text())
    yield out, code


@pytest.mark.asyncio(loop_scope="module")
async def test_capture_writes_every_scenario_in_the_contract_layout(
    captured: tuple[Path, int],
) -> None:
    out, code = captured
    report = json.loads((out / "capture.json").read_text())
    outcomes = {s["name"]: s for s in report["scenarios"]}

    assert list(outcomes) == [*TRANSCRIPTS, *HTTP_SCENARIOS]
    assert report["tokenizer_options"] is False
    assert (
        report["comfyui_version"]
        == json.loads((out / "system_stats.json").read_text())["system"]["comfyui_version"]
    )
    for name in TRANSCRIPTS:
        check_transcript(out, name)
        frames = (out / "transcripts" / f"{name}.ws.jsonl").read_text().split("\n")
        ends = [json.loads(f)["type"] for f in frames if '"type": "execution_' in f]
        assert outcomes[name]["outcome"] == ends[-1] in TERMINAL
    assert outcomes["edge_trim_past_end"]["outcome"] == "execution_error"
    assert code == (0 if all(s["as_expected"] for s in outcomes.values()) else 1)


@pytest.mark.asyncio(loop_scope="module")
async def test_object_info_has_exactly_the_nodes_the_graphs_use(captured: tuple[Path, int]) -> None:
    out, _ = captured
    kept = json.loads((out / "object_info.json").read_text())
    graphs = [
        *preset_graphs(),
        *(read_workflow(p) for p in EXAMPLES.glob("*.json")),
        *(s.graph for s in scenarios()),
    ]
    missing = json.loads((out / "capture.json").read_text())["object_info"]["missing"]

    assert set(kept) | set(missing) == graph_classes(graphs)
    assert all(entry["name"] == name for name, entry in kept.items())


@pytest.mark.asyncio(loop_scope="module")
async def test_http_exchanges_are_request_status_body(captured: tuple[Path, int]) -> None:
    out, _ = captured
    records: dict[str, Any] = {
        path.stem: json.loads(path.read_text()) for path in (out / "http").glob("*.json")
    }

    assert {
        "upload_image",
        "prompt_rejected",
        "prompt_accepted",
        "jobs_running",
        "job_running",
        "queue_running",
        "jobs_done",
        "job_done",
        "queue_done",
        "queue_with_pending",
        "job_cancel_pending",
        "queue_after_cancel",
        "interrupt_prompt_id",
        "history_interrupted",
        "history_cancelled",
        "free",
    } <= records.keys()
    for record in records.values():
        assert list(record) == ["request", "status", "body"]
        assert {"method", "path"} <= record["request"].keys()
        assert isinstance(record["status"], int)
    rejected = records["prompt_rejected"]
    assert rejected["status"] == 400
    assert {e["class_type"] for e in rejected["body"]["node_errors"].values()} == {
        "UNETLoader",
        "KSamplerAdvanced",
    }
    assert records["upload_image"]["body"]["name"] == "portrait.png"
    assert records["interrupt_prompt_id"]["request"]["json"] == {
        "prompt_id": records["history_interrupted"]["request"]["path"].rsplit("/", 1)[1]
    }


def test_an_unreachable_server_is_one_line_and_exit_4(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    code, _, stderr = invoke(
        "comfyui", "capture", "--url", url, "--out", str(tmp_path), "--examples", str(EXAMPLES)
    )

    assert code == 4
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert errors == [stderr.splitlines()[-1]]
    assert url in errors[0]
