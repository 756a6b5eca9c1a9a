"""Faults injected into comfy-sim (``POST /sim/faults``) and what ComfyClient makes of them."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from structlog.testing import capture_logs

from pipeline.comfy import ComfyClient, Progress
from pipeline.comfy.messages import ExecutionInterrupted
from pipeline.domain.errors import ComfyTimeout, ExecutionFailed, OutOfMemory, WorkerUnavailable
from pipeline.stack import services
from pipeline.stack.process import free_port
from pipeline.standins.comfy_sim import run_sim
from pipeline.standins.comfy_sim.prompt_run import CRASH_EXIT_CODE
from tests.helpers import eventually, png

pytestmark = pytest.mark.integration

CONTRACT = Path(__file__).parents[1] / "data" / "comfyui_contract"
POLL = 0.05
_unique = itertools.count(1)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with run_sim("127.0.0.1", 0, tmp_path_factory.mktemp("comfy-sim"), 0.01) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def comfy(sim: str) -> AsyncIterator[ComfyClient]:
    async with ComfyClient(sim, poll_interval=POLL) as client:
        await client.upload("start.png", png(), overwrite=True)
        yield client
    async with httpx.AsyncClient() as raw:
        assert (await raw.get(f"{sim}/sim/faults")).json() == {"faults": []}


def slow_graph(steps: int) -> dict[str, Any]:
    """LoadImage → ContractSlowProgress(steps) → SaveImage, never cached."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "start.png"}},
        "2": {"class_type": "ContractSlowProgress", "inputs": {"image": ["1", 0], "steps": steps}},
        "3": {
            "class_type": "SaveImage",
            "inputs": {"images": ["2", 0], "filename_prefix": f"faults/run{next(_unique)}"},
        },
    }


async def queue_faults(base_url: str, *faults: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient() as raw:
        return await raw.post(f"{base_url}/sim/faults", json={"faults": list(faults)})


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Progress] = []
        self.at: list[float] = []
        """When each progress came (the loop's clock)."""

    async def __call__(self, progress: Progress) -> None:
        self.seen.append(progress)
        self.at.append(asyncio.get_running_loop().time())

    def steps(self) -> list[float]:
        return [p.value for p in self.seen if p.class_type == "ContractSlowProgress" and p.max > 1]


async def test_faults_are_checked_queued_in_order_and_spent_by_the_next_prompt(
    comfy: ComfyClient, sim: str
) -> None:
    refused = await queue_faults(sim, {"kind": "meteor"})
    assert refused.status_code == 400
    assert "fault kind must be one of error, oom, drop_socket, hang, crash, silence" in refused.text
    assert (await queue_faults(sim, {"kind": "oom", "step": -1})).status_code == 400
    for wrong in (
        {"kind": "silence"},
        {"kind": "silence", "seconds": -1},
        {"kind": "silence", "seconds": "long"},
        {"kind": "hang", "seconds": 5},
    ):
        assert (await queue_faults(sim, wrong)).status_code == 400, wrong

    queued = await queue_faults(sim, {"kind": "error", "step": 99}, {"kind": "oom", "step": 99})
    assert queued.json() == {"queued": 2}
    await comfy.run(slow_graph(2), timeout=30)  # Never reaches step 99: the fault is spent.

    async with httpx.AsyncClient() as raw:
        left = (await raw.get(f"{sim}/sim/faults")).json()
    assert left == {"faults": [{"kind": "oom", "step": 99}]}
    await comfy.run(slow_graph(2), timeout=30)


async def test_error_fault_fails_the_node_at_the_requested_step(
    comfy: ComfyClient, sim: str
) -> None:
    await queue_faults(sim, {"kind": "error", "step": 3})
    recorder = Recorder()

    with pytest.raises(ExecutionFailed) as caught:
        await comfy.run(slow_graph(10), on_progress=recorder, timeout=30)

    # Step 1 is always reported; step 2 only if 100 ms passed (ComfyUI 0.33.0's throttle).
    assert recorder.steps()[:1] == [1]
    assert max(recorder.steps()) < 3
    assert caught.value.detail["node_type"] == "ContractSlowProgress"
    assert "comfy-sim fault in ContractSlowProgress at step 3" in caught.value.message


async def test_error_fault_at_a_node_start_carries_the_given_exception(
    comfy: ComfyClient, sim: str
) -> None:
    await queue_faults(
        sim,
        {
            "kind": "error",
            "step": 0,
            "node_type": "SaveImage",
            "exception_type": "safetensors._safetensors_rust.SafetensorError",
            "message": "Error while deserializing header: header too small",
        },
    )

    with pytest.raises(ExecutionFailed) as caught:
        await comfy.run(slow_graph(2), timeout=30)

    assert caught.value.detail["node_type"] == "SaveImage"
    assert caught.value.detail["exception_type"] == "safetensors._safetensors_rust.SafetensorError"
    assert caught.value.detail["exception_message"] == (
        "Error while deserializing header: header too small\n"
    )


async def test_oom_fault_reports_like_the_captured_out_of_memory(
    comfy: ComfyClient, sim: str
) -> None:
    await queue_faults(sim, {"kind": "oom", "step": 2})

    with pytest.raises(OutOfMemory) as caught:
        await comfy.run(slow_graph(5), timeout=30)

    entry = await comfy.history(str(caught.value.detail["prompt_id"]))
    assert entry is not None
    error = json.loads(json.dumps(entry.messages[-1], default=vars))
    captured = json.loads((CONTRACT / "history" / "f2_runtime_error_contractoom.json").read_text())
    (record,) = captured.values()
    want = record["status"]["messages"][-1][1]
    assert caught.value.detail["exception_type"] == want["exception_type"]
    assert error["exception_message"].endswith(want["exception_message"].split("\n", 1)[1])
    assert caught.value.retryable


async def test_socket_dropped_mid_run_is_recovered(comfy: ComfyClient, sim: str) -> None:
    await queue_faults(sim, {"kind": "drop_socket", "step": 3})
    recorder = Recorder()

    with capture_logs() as logs:
        result = await comfy.run(slow_graph(30), on_progress=recorder, timeout=30)

    assert [o.filename.endswith(".png") for o in result.outputs] == [True]
    assert any(entry["event"] == "comfy_ws_closed" for entry in logs)
    assert recorder.steps()[-1] == 30  # The reopened socket saw the end.


async def test_hang_runs_into_the_timeout_and_is_interrupted(comfy: ComfyClient, sim: str) -> None:
    await queue_faults(sim, {"kind": "hang", "step": 2})

    with pytest.raises(ComfyTimeout) as caught:
        await comfy.run(slow_graph(5), timeout=1.0)

    prompt_id = caught.value.detail["prompt_id"]
    async with httpx.AsyncClient() as raw:
        record = (await raw.get(f"{sim}/sim/record")).json()
    assert {"prompt_id": prompt_id} in record["interrupt"]
    async with asyncio.timeout(5):
        while True:
            entry = await comfy.history(str(prompt_id))
            if entry is not None:
                break
            await asyncio.sleep(POLL)
    assert isinstance(entry.failure(), ExecutionInterrupted)


async def test_silence_sends_nothing_for_its_seconds_then_the_node_goes_on(
    comfy: ComfyClient, sim: str
) -> None:
    seconds = 1.0
    await queue_faults(
        sim, {"kind": "silence", "node_type": "ContractSlowProgress", "step": 3, "seconds": seconds}
    )
    recorder = Recorder()

    with capture_logs() as logs:
        result = await comfy.run(slow_graph(6), on_progress=recorder, timeout=30)

    assert [o.filename.endswith(".png") for o in result.outputs] == [True]
    # Throttled as ComfyUI 0.33.0 sends them: first and last, and step 3 (over 100 ms late).
    steps = recorder.steps()
    assert (steps[0], steps[-1]) == (1, 6)
    assert 3 in steps
    assert steps == sorted(set(steps))
    gaps = [b - a for a, b in itertools.pairwise(recorder.at)]
    silent = [p.value for p, gap in zip(recorder.seen[1:], gaps, strict=True) if gap >= seconds]
    assert silent == [3]  # Nothing between step 2 and step 3, and only there.
    assert [e["event"] for e in logs].count("comfy_ws_closed") == 0


async def test_an_interrupt_ends_a_silence(comfy: ComfyClient, sim: str) -> None:
    await queue_faults(sim, {"kind": "silence", "step": 0, "seconds": 60})

    with pytest.raises(ComfyTimeout) as caught:
        await comfy.run(slow_graph(5), timeout=1.0)

    prompt_id = str(caught.value.detail["prompt_id"])
    await eventually(lambda: comfy.history(prompt_id), 5)
    entry = await comfy.history(prompt_id)
    assert entry is not None
    assert isinstance(entry.failure(), ExecutionInterrupted)


async def test_crash_makes_the_worker_unavailable(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = services.comfy_sim(tmp_path, port)
    process.start()
    try:
        await process.wait_ready(lambda: services.http_ready(f"{url}/system_stats"), 30)
        async with ComfyClient(url, poll_interval=POLL) as comfy:
            await comfy.upload("start.png", png())
            assert (await queue_faults(url, {"kind": "crash", "step": 2})).status_code == 200
            with pytest.raises(WorkerUnavailable):
                await comfy.run(slow_graph(5), timeout=30)
        # The socket closes as the process dies; its exit is seen a moment later.
        await eventually(lambda: asyncio.sleep(0, result=process.returncode is not None), 10)
        assert process.returncode == CRASH_EXIT_CODE
    finally:
        await process.stop()
