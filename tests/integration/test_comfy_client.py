"""ComfyClient against comfy-sim: real HTTP, real WebSocket, real MP4s."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from PIL import Image

from pipeline.comfy import ComfyClient, Progress, Queued
from pipeline.domain.errors import (
    ComfyTimeout,
    ExecutionFailed,
    GraphError,
    Interrupted,
    OutOfMemory,
    WorkerUnavailable,
)
from pipeline.stack.process import free_port
from pipeline.standins.comfy_sim import run_sim
from tests.helpers import eventually, png
from workflows_comfy.i2v import I2VParams, build_i2v

pytestmark = pytest.mark.integration

STEP_DELAY = 0.02
POLL = 0.05
_unique = itertools.count(1)
"""Distinct prefixes and seeds: comfy-sim caches node results like ComfyUI does."""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    data_dir = tmp_path_factory.mktemp("comfy-sim")
    async with run_sim("127.0.0.1", 0, data_dir, STEP_DELAY) as base_url:
        yield base_url


@pytest_asyncio.fixture(loop_scope="session")
async def comfy(sim: str) -> AsyncIterator[ComfyClient]:
    async with ComfyClient(sim, poll_interval=POLL) as client:
        yield client


def slow_graph(image: str, steps: int, *, middle: str = "ContractSlowProgress") -> dict[str, Any]:
    inputs: dict[str, Any] = {"image": ["1", 0]}
    if middle == "ContractSlowProgress":
        inputs["steps"] = steps
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image}},
        "2": {"class_type": middle, "inputs": inputs},
        "3": {
            "class_type": "SaveImage",
            "inputs": {"images": ["2", 0], "filename_prefix": f"test/run{next(_unique)}"},
        },
    }


@pytest_asyncio.fixture(loop_scope="session")
async def start_image(comfy: ComfyClient) -> str:
    return await comfy.upload("start.png", png(), overwrite=True)


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Progress] = []

    async def __call__(self, progress: Progress) -> None:
        self.seen.append(progress)


async def test_i2v_run_reports_progress_and_its_video_downloads(
    comfy: ComfyClient, start_image: str
) -> None:
    params = I2VParams(
        image_name=start_image,
        prompt="a red square",
        width=128,
        height=96,
        length=9,
        seed=next(_unique),
        fps=8,
        steps=4,
        filename_prefix=f"video/i2v{next(_unique)}",
    )
    graph = build_i2v(params)
    recorder = Recorder()
    result = await comfy.run(graph, on_progress=recorder, timeout=60)

    (video,) = result.outputs
    assert video.animated
    assert video.filename.endswith(".mp4")
    data = b"".join([chunk async for chunk in comfy.download(video)])
    assert data[4:8] == b"ftyp"

    samplers = [p for p in recorder.seen if p.class_type == "KSamplerAdvanced" and p.max == 2]
    assert [p.value for p in samplers] == [1, 2, 1, 2]
    (total,) = {p.nodes_total for p in recorder.seen}  # LoadImage may come from the cache.
    assert len(graph) - 1 <= total <= len(graph)
    assert [p.nodes_done for p in recorder.seen] == sorted(p.nodes_done for p in recorder.seen)
    assert recorder.seen[-1].class_type == "SaveVideo"
    assert recorder.seen[-1].nodes_done == total - 1


async def test_uploads_from_path_and_stream_land_where_load_image_finds_them(
    comfy: ComfyClient, tmp_path: Path
) -> None:
    source = tmp_path / "from_disk.png"
    source.write_bytes(png(32, 24, (0, 0, 255)))
    assert await comfy.upload("from_disk.png", source) == "from_disk.png"

    async def chunks() -> AsyncIterator[bytes]:
        data = png(40, 30, (0, 255, 0))
        for start in range(0, len(data), 7):
            yield data[start : start + 7]

    stored = await comfy.upload("streamed.png", chunks(), subfolder="uploads")
    assert stored == "uploads/streamed.png"

    result = await comfy.run(slow_graph(stored, 1), timeout=30)
    (saved,) = result.outputs
    data = b"".join([chunk async for chunk in comfy.download(saved)])
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (40, 30)


async def test_upload_without_overwrite_keeps_the_old_file(comfy: ComfyClient) -> None:
    name = f"keep{next(_unique)}.png"
    assert await comfy.upload(name, png(colour=(1, 1, 1)), overwrite=False) == name
    renamed = await comfy.upload(name, png(colour=(2, 2, 2)), overwrite=False)
    assert renamed == name.replace(".png", " (1).png")


async def test_invalid_graph_is_a_graph_error_naming_node_and_input(
    comfy: ComfyClient, start_image: str
) -> None:
    graph = build_i2v(
        I2VParams(image_name=start_image, prompt="x", width=128, height=96, length=5, seed=1)
    )
    loader = next(n for n, node in graph.items() if node["class_type"] == "UNETLoader")
    graph[loader]["inputs"]["unet_name"] = "wan9_missing.safetensors"
    with pytest.raises(GraphError) as caught:
        await comfy.submit(graph)
    assert f"node {loader} (UNETLoader) input 'unet_name'" in caught.value.message
    assert "wan9_missing.safetensors" in caught.value.message
    assert caught.value.detail["status"] == 400


async def test_graph_with_one_invalid_output_is_refused_and_not_left_running(
    comfy: ComfyClient, sim: str, start_image: str
) -> None:
    graph = slow_graph(start_image, 500)
    graph["4"] = {
        "class_type": "SaveImage",
        "inputs": {"images": ["5", 0], "filename_prefix": "test/partial"},
    }
    graph["5"] = {
        "class_type": "ImageScale",
        "inputs": {
            "image": ["1", 0],
            "upscale_method": "nearest-exact",
            "width": 999999,
            "height": 8,
            "crop": "disabled",
        },
    }
    with pytest.raises(GraphError, match=r"node 5 \(ImageScale\) input 'width'") as caught:
        await comfy.submit(graph)
    response = caught.value.detail["response"]
    assert isinstance(response, dict)
    await asyncio.wait_for(_left_queue(sim, response["prompt_id"]), 3)


async def _left_queue(sim: str, prompt_id: str) -> None:
    async with httpx.AsyncClient() as raw:
        while True:
            queue = (await raw.get(f"{sim}/queue")).json()
            items = queue["queue_running"] + queue["queue_pending"]
            if all(item[1] != prompt_id for item in items):
                return
            await asyncio.sleep(POLL)


async def test_other_prompts_broadcast_progress_is_ignored(
    comfy: ComfyClient, sim: str, start_image: str
) -> None:
    # Without a client_id ComfyUI broadcasts a prompt's progress to every socket.
    async with httpx.AsyncClient() as raw:
        foreign = await raw.post(f"{sim}/prompt", json={"prompt": slow_graph(start_image, 25)})
    assert foreign.status_code == 200
    recorder = Recorder()
    await comfy.run(slow_graph(start_image, 3), on_progress=recorder, timeout=30)
    assert {p.max for p in recorder.seen} <= {1.0, 3.0}
    own = [p.value for p in recorder.seen if p.max == 3]
    # The first and the last step always arrive; the middle one only 100 ms after the first.
    assert (own[0], own[-1], own) == (1, 3, sorted(set(own)))


async def test_out_of_memory_node_raises_out_of_memory(
    comfy: ComfyClient, start_image: str
) -> None:
    with pytest.raises(OutOfMemory) as caught:
        await comfy.run(slow_graph(start_image, 0, middle="ContractOOM"), timeout=30)
    assert caught.value.detail["node_type"] == "ContractOOM"
    assert caught.value.detail["exception_type"] == "torch.OutOfMemoryError"


async def test_failing_node_raises_execution_failed_with_its_message(
    comfy: ComfyClient, start_image: str
) -> None:
    with pytest.raises(ExecutionFailed, match="simulated CUDA out of memory") as caught:
        await comfy.run(slow_graph(start_image, 0, middle="ContractFail"), timeout=30)
    assert type(caught.value) is ExecutionFailed
    assert "node 2 (ContractFail) raised RuntimeError" in caught.value.message


async def test_interrupt_ends_the_run_as_interrupted(comfy: ComfyClient, start_image: str) -> None:
    async def interrupt_once_sampling(progress: Progress) -> None:
        if progress.value >= 2:
            await comfy.interrupt()

    with pytest.raises(Interrupted) as caught:
        await comfy.run(
            slow_graph(start_image, 500), on_progress=interrupt_once_sampling, timeout=30
        )
    assert caught.value.detail["node_type"] == "ContractSlowProgress"


async def test_timeout_raises_comfy_timeout_and_interrupts_the_prompt(
    comfy: ComfyClient, sim: str, start_image: str
) -> None:
    with pytest.raises(ComfyTimeout) as caught:
        await comfy.run(slow_graph(start_image, 500), timeout=0.3)
    assert caught.value.code == "comfy_timeout"
    prompt_id = caught.value.detail["prompt_id"]
    assert isinstance(prompt_id, str)
    await asyncio.wait_for(_left_queue(sim, prompt_id), 3)
    entry = await comfy.history(prompt_id)
    assert entry is not None
    assert not entry.succeeded


async def test_unreachable_server_is_worker_unavailable() -> None:
    async with ComfyClient(f"http://127.0.0.1:{free_port()}", poll_interval=POLL) as client:
        with pytest.raises(WorkerUnavailable):
            await client.run({"1": {"class_type": "LoadImage", "inputs": {}}}, timeout=10)


async def test_object_info_lists_the_wan_nodes_and_free_succeeds(comfy: ComfyClient) -> None:
    info = await comfy.object_info()
    assert {"WanImageToVideo", "KSamplerAdvanced", "SaveVideo"} <= info.keys()
    await comfy.free()


class WsProxy:
    """Forwards ComfyUI's socket, but the first connection misbehaves: it drops after
    ``drop_after`` text frames, or (``mute_first``) forwards nothing, or (``deaf_first``)
    forwards everything but answers no ping. Later connections are refused unless
    ``reconnect``.
    """

    def __init__(
        self,
        upstream: str,
        *,
        drop_after: int | None = None,
        mute_first: bool = False,
        deaf_first: bool = False,
        reconnect: bool = False,
    ) -> None:
        self.upstream = "ws" + upstream.removeprefix("http")
        self.drop_after, self.mute_first, self.reconnect = drop_after, mute_first, reconnect
        self.deaf_first = deaf_first
        self.connections = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.connections += 1
        first = self.connections == 1
        if not first and not self.reconnect:
            return web.Response(status=503)
        client = web.WebSocketResponse(autoping=not (first and self.deaf_first))
        await client.prepare(request)
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{self.upstream}/ws?{request.query_string}") as upstream,
        ):
            pump = asyncio.create_task(self._pump(upstream, client, first))
            async for _ in client:  # Reading is what answers the client's close.
                pass
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        return client

    async def _pump(
        self,
        upstream: aiohttp.ClientWebSocketResponse,
        client: web.WebSocketResponse,
        first: bool,
    ) -> None:
        forwarded = 0
        async for message in upstream:
            if first and self.mute_first:
                continue
            if message.type == aiohttp.WSMsgType.TEXT:
                await client.send_str(message.data)
                forwarded += 1
                if first and forwarded == self.drop_after:
                    await client.close()
                    return
            elif message.type == aiohttp.WSMsgType.BINARY:
                await client.send_bytes(message.data)

    async def __aenter__(self) -> str:
        app = web.Application()
        app.router.add_get("/ws", self.handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()


async def test_run_completes_from_history_when_the_socket_drops(sim: str, start_image: str) -> None:
    proxy = WsProxy(sim, drop_after=6)
    recorder = Recorder()
    async with proxy as ws_url, ComfyClient(sim, ws_base_url=ws_url, poll_interval=POLL) as c:
        result = await c.run(slow_graph(start_image, 8), on_progress=recorder, timeout=30)
    assert proxy.connections > 1  # The client tried to come back ...
    assert [o.filename.endswith(".png") for o in result.outputs] == [True]
    assert not any(p.value == 8 for p in recorder.seen)  # ... and never did.


async def test_reopened_socket_resumes_progress(sim: str, start_image: str) -> None:
    proxy = WsProxy(sim, drop_after=6, reconnect=True)
    recorder = Recorder()
    async with proxy as ws_url, ComfyClient(sim, ws_base_url=ws_url, poll_interval=POLL) as c:
        await c.run(slow_graph(start_image, 20), on_progress=recorder, timeout=30)
    assert proxy.connections == 2
    assert any(p.value == 20 for p in recorder.seen)


async def test_a_silent_socket_is_kept_while_the_server_says_the_prompt_runs(
    sim: str, start_image: str
) -> None:
    # The socket says nothing for the whole run (as ComfyUI does during a long text
    # encode), for many ping and poll intervals: silence alone is no reason to reopen it.
    proxy = WsProxy(sim, mute_first=True, reconnect=True)
    recorder = Recorder()
    async with (
        proxy as ws_url,
        ComfyClient(sim, ws_base_url=ws_url, poll_interval=POLL, ws_ping_s=0.1) as c,
    ):
        result = await c.run(slow_graph(start_image, 40), on_progress=recorder, timeout=30)
    assert len(result.outputs) == 1  # /history carried the run ...
    assert proxy.connections == 1  # ... on the one socket, never reopened ...
    assert recorder.seen == []  # ... that really said nothing.


async def test_a_socket_that_answers_no_ping_is_reopened_and_resumes_progress(
    sim: str, start_image: str
) -> None:
    proxy = WsProxy(sim, deaf_first=True, reconnect=True)
    recorder = Recorder()
    async with (
        proxy as ws_url,
        ComfyClient(sim, ws_base_url=ws_url, poll_interval=POLL, ws_ping_s=0.1) as c,
    ):
        result = await c.run(slow_graph(start_image, 60), on_progress=recorder, timeout=30)
    assert len(result.outputs) == 1
    assert proxy.connections == 2  # The keepalive closed the deaf one; one reopen.
    assert any(p.value == 60 for p in recorder.seen)


async def test_a_pending_prompt_reports_its_place_in_the_queue(
    comfy: ComfyClient, sim: str, start_image: str
) -> None:
    places: list[int] = []

    async def on_queued(queued: Queued) -> None:
        places.append(queued.position)

    ahead = asyncio.create_task(comfy.run(slow_graph(start_image, 30), timeout=30))
    async with httpx.AsyncClient() as raw:

        async def running() -> bool:
            return bool((await raw.get(f"{sim}/queue")).json()["queue_running"])

        await eventually(running, 10, every_s=0.01)
    await comfy.run(slow_graph(start_image, 2), on_queued=on_queued, timeout=30)
    await ahead
    assert places[:1] == [1]
