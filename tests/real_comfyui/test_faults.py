"""Cancels, a ComfyUI killed mid-prompt and a GPU worker killed mid-segment, on a real
ComfyUI: each session ends as it should and ComfyUI is left with nothing of it."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import eventually
from tests.integration.stack_support import sample_image
from tests.real_comfyui.real_support import TIER, RealStack

pytestmark = TIER

CANCELLED_WITHIN_S = 30.0


async def test_a_cancel_while_its_prompt_runs_interrupts_it(
    real_stack: RealStack, tmp_path: Path
) -> None:
    started = await real_stack.drop([sample_image(tmp_path / "a.png")], "i2v", wait=False)
    prompt = await real_stack.until_running()

    asked = time.monotonic()
    cancel = await asyncio.to_thread(real_stack.cli, "cancel", started["session_id"], "--json")
    final = await real_stack.ended(started["session_id"], CANCELLED_WITHIN_S)

    assert cancel.returncode == 0, cancel.stderr
    assert final["status"] == "cancelled"
    await eventually(lambda: _idle(real_stack), CANCELLED_WITHIN_S, every_s=0.5)
    assert time.monotonic() - asked < CANCELLED_WITHIN_S
    history = await _history(real_stack, prompt)
    assert history["status"]["status_str"] == "error"
    assert history["status"]["messages"][-1][0] == "execution_interrupted"


async def test_a_cancel_while_its_prompt_waits_dequeues_it_and_spares_the_running_one(
    real_stack: RealStack, tmp_path: Path
) -> None:
    other = await real_stack.occupy(steps=3000)
    try:
        await eventually(lambda: _runs(real_stack, other), 120, every_s=0.5)
        started = await real_stack.drop([sample_image(tmp_path / "b.png")], "i2v", wait=False)
        ours: list[str] = []

        async def ours_pending() -> bool:
            ours[:] = (await real_stack.queue())[1]
            return bool(ours)

        await eventually(ours_pending, 120, every_s=0.5)
        cancel = await asyncio.to_thread(real_stack.cli, "cancel", started["session_id"])
        final = await real_stack.ended(started["session_id"], CANCELLED_WITHIN_S)

        assert cancel.returncode == 0, cancel.stderr
        assert final["status"] == "cancelled"
        running, pending = await real_stack.queue()
        assert (running, pending) == ([other], [])
        assert await _history(real_stack, ours[0]) == {}
    finally:
        async with httpx.AsyncClient(trust_env=False) as http:
            await http.post(f"{real_stack.comfy_url}/interrupt", json={"prompt_id": other})
    await eventually(lambda: _idle(real_stack), 60, every_s=0.5)


async def test_comfyui_killed_mid_prompt_and_restarted_still_completes_the_session(
    real_stack: RealStack, tmp_path: Path
) -> None:
    before = real_stack.restarts("comfyui")
    started = await real_stack.drop(
        [sample_image(tmp_path / "c.png")], "i2v", "extensions=1", wait=False
    )
    await real_stack.until_running()
    os.killpg(real_stack.pid("comfyui"), signal.SIGKILL)
    await eventually(lambda: real_stack.restarts("comfyui") == before + 1, 120, every_s=0.5)

    final = await real_stack.ended(started["session_id"])

    assert final["status"] == "succeeded", final
    assert final["result"]["frames"] == real_stack.plan(started["session_id"]).final_frames


async def test_a_gpu_worker_killed_mid_segment_is_replaced_and_the_session_completes(
    real_stack: RealStack, tmp_path: Path
) -> None:
    before = real_stack.restarts("worker-gpu")
    started = await real_stack.drop([sample_image(tmp_path / "d.png")], "i2v", wait=False)
    await real_stack.until_running()
    os.killpg(real_stack.pid("worker-gpu"), signal.SIGKILL)
    await eventually(lambda: real_stack.restarts("worker-gpu") == before + 1, 60, every_s=0.5)

    final = await real_stack.ended(started["session_id"])

    assert final["status"] == "succeeded", final
    assert final["result"]["frames"] == real_stack.plan(started["session_id"]).final_frames


async def _idle(stack: RealStack) -> bool:
    return await stack.queue() == ([], [])


async def _runs(stack: RealStack, prompt_id: str) -> bool:
    return (await stack.queue())[0] == [prompt_id]


async def _history(stack: RealStack, prompt_id: str) -> dict[str, Any]:
    """``GET /history/{id}``'s record of the prompt, ``{}`` if it never ran."""
    async with httpx.AsyncClient(trust_env=False) as http:
        body = (await http.get(f"{stack.comfy_url}/history/{prompt_id}")).json()
    record: dict[str, Any] = body.get(prompt_id, {})
    return record
