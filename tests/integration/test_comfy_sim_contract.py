"""comfy-sim against the captures of a real ComfyUI server (tests/data/comfyui_contract).

Each scenario replays the captured graph and compares the WebSocket transcript (message types
in order, and the field names and value kinds of every message) and the ``/history`` entry's
shape. Values that differ by nature (ids, timestamps, file counters) are not compared.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import struct
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from PIL import Image

from pipeline.standins.comfy_sim import run_sim
from pipeline.standins.comfy_sim.object_info import contract_object_info
from tests.helpers import png_bytes, wav
from workflows_comfy.models import model_files
from workflows_comfy.object_info import input_spec

pytestmark = pytest.mark.integration

CONTRACT = Path(__file__).parents[1] / "data" / "comfyui_contract"
STEP_DELAY = 0.02
TIMEOUT = 20.0
Frame = tuple[str, Any]
"""``("text", message)`` or ``("binary", (event type, second u32))``."""


def http_capture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CONTRACT / "http" / f"{name}.json").read_text())
    return loaded


def grown(body: Any) -> Any:
    """A captured answer as the grown contract gives it (``contract/README.md``, C+).

    The contract's loaders list more placeholder model files than the capture server had, so
    a "not in list" error quotes the longer list.
    """
    if not isinstance(body, dict):
        return body
    body = copy.deepcopy(body)
    for entry in body.get("node_errors", {}).values():
        for error in entry["errors"]:
            extra_info = error["extra_info"]
            if error["type"] != "value_not_in_list" or not extra_info.get("input_config"):
                continue
            spec = input_spec(contract_object_info(), entry["class_type"], extra_info["input_name"])
            assert spec is not None
            extra_info["input_config"] = spec.config
            error["details"] = (
                f"{extra_info['input_name']}: '{extra_info['received_value']}' "
                f"not in {spec.combo_values}"
            )
    return body


def captured_prompt(name: str) -> dict[str, Any]:
    prompt: dict[str, Any] = http_capture(f"post_prompt_{name}")["request"]["json"]["prompt"]
    return prompt


def captured_frames(name: str) -> list[Frame]:
    frames: list[Frame] = []
    for line in (CONTRACT / "ws" / f"{name}.jsonl").read_text().splitlines():
        record = json.loads(line)
        data = record["data"]
        if record["kind"] == "text":
            frames.append(("text", data))
        else:
            frames.append(("binary", (data["event_type_u32be"], data["second_u32be"])))
    return frames


def captured_history(name: str) -> dict[str, Any]:
    (entry,) = json.loads((CONTRACT / "history" / f"{name}.json").read_text()).values()
    return dict(entry)


def shape(value: Any) -> Any:
    """Field names and value kinds; a list's elements as the set of their shapes."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted({json.dumps(shape(item), sort_keys=True) for item in value})
    if isinstance(value, bool) or value is None:
        return repr(value) if value is None else "bool"
    return "number" if isinstance(value, int | float) else type(value).__name__


def kinds(frames: list[Frame]) -> list[Any]:
    return [f[1]["type"] if f[0] == "text" else ("binary", f[1][0]) for f in frames]


def shapes(frames: list[Frame]) -> list[Any]:
    return [shape(f[1]) if f[0] == "text" else f[1] for f in frames]


def is_text(frame: Frame, kind: str) -> bool:
    return frame[0] == "text" and frame[1]["type"] == kind


def idle_status(frame: Frame) -> bool:
    return is_text(frame, "status") and frame[1]["data"]["status"]["exec_info"] == {
        "queue_remaining": 0
    }


def collapse_progress(types: list[Any]) -> list[Any]:
    """Repeated ``progress_state``/``progress`` pairs as one: their count depends on timing."""
    out: list[Any] = []
    for kind in types:
        if out[-2:] == ["progress_state", "progress"] and kind == "progress_state":
            out.pop()
            out.pop()
        out.append(kind)
    return out


class Listener:
    """A WebSocket client recording every frame it receives."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, client_id: str) -> None:
        self.ws, self.client_id = ws, client_id
        self.frames: list[Frame] = []
        self._arrived = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(("text", json.loads(msg.data)))
            elif msg.type == aiohttp.WSMsgType.BINARY:
                self.frames.append(("binary", struct.unpack(">II", msg.data[:8])))
            self._arrived.set()

    async def wait_for(self, done: Callable[[Frame], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while True:
                self._arrived.clear()
                if any(done(f) for f in self.frames):
                    return
                await self._arrived.wait()

    async def wait_finished(self, prompt_id: str) -> None:
        await self.wait_for(
            lambda f: (
                f[0] == "text"
                and f[1]["type"] == "executing"
                and f[1]["data"] == {"node": None, "prompt_id": prompt_id}
            )
        )

    async def close(self) -> None:
        await self.ws.close()
        await self._task


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def http(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[aiohttp.ClientSession]:
    async with (
        run_sim("127.0.0.1", 0, tmp_path_factory.mktemp("comfy-sim"), STEP_DELAY) as url,
        aiohttp.ClientSession(base_url=url) as session,
    ):
        await upload(session, "contract_in.png", png())
        await upload(session, "contract_voice.wav", wav())
        yield session


def png(shade: int = 0) -> bytes:
    image = Image.new("RGB", (64, 48))
    image.putdata([((x * 4 + shade) % 256, y * 5, 128) for y in range(48) for x in range(64)])
    return png_bytes(image)


async def upload(
    http: aiohttp.ClientSession, name: str, data: bytes, **fields: str
) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("image", data, filename=name)
    async with http.post("/upload/image", data=form) as response:
        await response.read()
        return response


@contextlib.asynccontextmanager
async def listening(
    http: aiohttp.ClientSession, feature_flags: dict[str, Any] | None = None
) -> AsyncIterator[Listener]:
    client_id = str(uuid.uuid4())
    listener = Listener(await http.ws_connect(f"/ws?clientId={client_id}"), client_id)
    if feature_flags is not None:
        await listener.ws.send_json({"type": "feature_flags", "data": feature_flags})
        await listener.wait_for(lambda f: is_text(f, "feature_flags"))
    await listener.wait_for(lambda f: is_text(f, "status"))
    try:
        yield listener
    finally:
        await listener.close()


async def submit(http: aiohttp.ClientSession, prompt: dict[str, Any], client_id: str | None) -> str:
    body: dict[str, Any] = {"prompt": prompt}
    if client_id is not None:
        body["client_id"] = client_id
    async with http.post("/prompt", json=body) as response:
        assert response.status == 200, await response.text()
        prompt_id: str = (await response.json())["prompt_id"]
        return prompt_id


async def history_of(http: aiohttp.ClientSession, prompt_id: str) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        while True:
            async with http.get(f"/history/{prompt_id}") as response:
                found = await response.json()
            if prompt_id in found:
                return dict(found[prompt_id])
            await asyncio.sleep(0.02)


async def warm_up(http: aiohttp.ClientSession, *scenarios: str) -> None:
    """Empty the cache, then run ``scenarios`` so the next prompt finds what the capture did."""
    async with http.post("/free", json={"free_memory": True}) as response:
        assert response.status == 200
    async with listening(http) as listener:
        for name in scenarios:
            prompt_id = await submit(http, captured_prompt(name), listener.client_id)
            await listener.wait_finished(prompt_id)


async def run_scenario(
    http: aiohttp.ClientSession, name: str, feature_flags: dict[str, Any] | None = None
) -> tuple[list[Frame], dict[str, Any]]:
    async with listening(http, feature_flags) as listener:
        prompt_id = await submit(http, captured_prompt(name), listener.client_id)
        await listener.wait_finished(prompt_id)
    return listener.frames, await history_of(http, prompt_id)


def throttled(frames: list[Frame]) -> list[Frame]:
    """``frames`` with each run of adjacent step reports (``progress_state`` + ``progress``)
    cut to its first and last: ComfyUI 0.33.0 throttles them (``progress.Throttle``), the
    0.3.64 capture sent every step."""
    pairs = [
        i
        for i in range(len(frames) - 1)
        if is_text(frames[i], "progress_state") and is_text(frames[i + 1], "progress")
    ]
    inner = {i for i in pairs if i - 2 in pairs and i + 2 in pairs}
    return [f for i, f in enumerate(frames) if i not in inner and i - 1 not in inner]


def as_v2(history: dict[str, Any]) -> dict[str, Any]:
    """``history`` without ``extra_data.create_time``, which 0.3.64 did not have."""
    prompt = [*history["prompt"]]
    prompt[3] = {key: value for key, value in prompt[3].items() if key != "create_time"}
    assert "create_time" in history["prompt"][3]
    return {**history, "prompt": prompt}


def node_frames(traceback: list[str]) -> list[str]:
    """A traceback without ComfyUI's own execution.py frames (0.33.0's differ from 0.3.64's)."""
    return [frame for frame in traceback if "/execution.py" not in frame]


def assert_like_capture(frames: list[Frame], history: dict[str, Any], name: str) -> None:
    expected = throttled(captured_frames(name))
    frames = throttled(frames)
    assert kinds(frames) == kinds(expected)
    assert shapes(frames) == shapes(expected)
    captured = captured_history(name)
    assert shape(as_v2(history)) == shape(captured)
    assert [m[0] for m in history["status"]["messages"]] == [
        m[0] for m in captured["status"]["messages"]
    ]


async def test_the_root_a_user_opens_says_what_the_server_is(
    http: aiohttp.ClientSession,
) -> None:
    async with http.get("/") as response:
        assert response.status == 200
        assert (await response.text()).startswith("comfy-sim: a stand-in for ComfyUI's")


async def test_fresh_run_reports_like_the_real_server(http: aiohttp.ClientSession) -> None:
    await warm_up(http)

    frames, history = await run_scenario(http, "a_success_core")

    assert_like_capture(frames, history, "a_success_core")


async def test_second_client_only_sees_status_broadcasts(http: aiohttp.ClientSession) -> None:
    await warm_up(http)
    async with listening(http) as other:
        await run_scenario(http, "a_success_core")
        await other.wait_for(lambda f: idle_status(f) and len(other.frames) > 1)

    expected = captured_frames("h_second_client_during_a")
    assert kinds(other.frames) == kinds(expected)
    assert shapes(other.frames) == shapes(expected)


async def test_same_prompt_again_is_cached_and_replays_its_output(
    http: aiohttp.ClientSession,
) -> None:
    await warm_up(http)
    first, _ = await run_scenario(http, "a_success_core")

    frames, history = await run_scenario(http, "b_cached_same_prompt")

    assert_like_capture(frames, history, "b_cached_same_prompt")
    outputs = [f[1]["data"]["output"] for f in first + frames if is_text(f, "executed")]
    assert outputs[0] == outputs[1] == history["outputs"]["3"]


@pytest.mark.parametrize(
    ("name", "before"),
    [
        ("c_video_core_savevideo", ("a_success_core",)),
        ("c_video_vhs_videocombine", ("c_video_core_savevideo",)),
        ("d_progress_slow8", ("a_success_core",)),
        ("f_runtime_error_contractfail", ("a_success_core",)),
        ("f2_runtime_error_contractoom", ("a_success_core",)),
    ],
)
async def test_scenario_reports_like_the_real_server(
    http: aiohttp.ClientSession, name: str, before: tuple[str, ...]
) -> None:
    await warm_up(http, *before)

    frames, history = await run_scenario(http, name)

    assert_like_capture(frames, history, name)


@pytest.mark.parametrize(
    ("name", "flags"),
    [
        ("d2_progress_preview_legacy_client", None),
        ("d3_progress_preview_feature_flags", {"supports_preview_metadata": True}),
    ],
)
async def test_previews_arrive_as_the_client_negotiated(
    http: aiohttp.ClientSession, name: str, flags: dict[str, Any] | None
) -> None:
    await warm_up(http, "a_success_core")

    frames, history = await run_scenario(http, name, flags)

    assert_like_capture(frames, history, name)


@pytest.mark.parametrize("name", ["f_runtime_error_contractfail", "f2_runtime_error_contractoom"])
async def test_failure_carries_the_captured_exception(
    http: aiohttp.ClientSession, name: str
) -> None:
    await warm_up(http, "a_success_core")

    _, history = await run_scenario(http, name)

    error = history["status"]["messages"][-1][1]
    want = captured_history(name)["status"]["messages"][-1][1]
    for field in ("node_type", "exception_type", "exception_message"):
        assert error[field] == want[field]
    assert node_frames(error["traceback"]) == node_frames(want["traceback"])


async def test_wan_graph_failing_in_its_first_loader_reports_like_the_real_server(
    http: aiohttp.ClientSession,
) -> None:
    # The capture server's model files were empty, so VAELoader failed reading its header;
    # comfy-sim has no weights to fail on and is told to fail there instead.
    await warm_up(http, "c_video_core_savevideo")
    name = "g_wan_i2v_empty_weights"
    want = captured_history(name)["status"]["messages"][-1][1]
    fault = {
        "kind": "error",
        "step": 0,
        "node_type": want["node_type"],
        "exception_type": want["exception_type"],
        "message": want["exception_message"].removesuffix("\n"),
    }
    async with http.post("/sim/faults", json={"faults": [fault]}) as response:
        assert response.status == 200

    frames, history = await run_scenario(http, name)

    assert_like_capture(frames, history, name)
    error = history["status"]["messages"][-1][1]
    for field in ("node_id", "node_type", "executed", "exception_type", "exception_message"):
        assert error[field] == want[field]


async def test_interrupt_stops_the_running_node(http: aiohttp.ClientSession) -> None:
    await warm_up(http, "a_success_core")
    async with listening(http) as listener:
        prompt_id = await submit(http, captured_prompt("e_interrupt"), listener.client_id)
        await listener.wait_for(lambda f: is_text(f, "progress"))
        async with http.post("/interrupt") as response:
            assert (response.status, await response.read()) == (200, b"")
        await listener.wait_finished(prompt_id)
    history = await history_of(http, prompt_id)

    expected = captured_frames("e_interrupt")
    assert collapse_progress(kinds(listener.frames)) == collapse_progress(kinds(expected))
    assert shape(listener.frames[-3][1]) == shape(expected[-3][1])
    assert shape(as_v2(history)) == shape(captured_history("e_interrupt"))


async def test_prompt_without_client_id_only_broadcasts(http: aiohttp.ClientSession) -> None:
    await warm_up(http, "a_success_core")
    async with listening(http) as listener:
        prompt_id = await submit(http, captured_prompt("i_no_client_id"), None)
        history = await history_of(http, prompt_id)
        await listener.wait_for(lambda f: idle_status(f) and len(listener.frames) > 3)

    assert_like_capture(listener.frames, history, "i_no_client_id_in_prompt")


@pytest.mark.parametrize(
    "name",
    sorted(p.stem for p in (CONTRACT / "http").glob("post_prompt_err_*.json")),
)
async def test_rejected_prompt_gets_the_captured_answer(
    http: aiohttp.ClientSession, name: str
) -> None:
    capture = http_capture(name)
    request = capture["request"]
    body = request["raw"] if "raw" in request else json.dumps(request["json"])

    async with http.post("/prompt", data=body) as response:
        text = await response.text()

    assert response.status == capture["status"]
    assert response.content_type == dict(capture["headers"])["content-type"].split(";")[0]
    assert (json.loads(text) if response.content_type == "application/json" else text) == (
        grown(capture.get("body", capture.get("body_text")))
    )


async def test_number_counts_every_post_and_front_is_negative(
    http: aiohttp.ClientSession,
) -> None:
    async def number(body: dict[str, Any]) -> int:
        async with http.post("/prompt", json=body) as response:
            return int((await response.json()).get("number", -1))

    async with http.post("/prompt", json={"prompt": {}}) as rejected:
        assert rejected.status == 400
    first = await number({"prompt": captured_prompt("a_success_core")})
    async with http.post("/prompt", json={"prompt": {}}):
        pass
    front = await number({"prompt": captured_prompt("a_success_core"), "front": True})

    assert front == -(first + 2)


REFUSED_VIEWS = sorted(
    p.stem
    for p in (CONTRACT / "http").glob("get_view_*.json")
    if json.loads(p.read_text())["status"] != 200
)


@pytest.mark.parametrize("name", REFUSED_VIEWS)
async def test_view_refuses_like_the_real_server(http: aiohttp.ClientSession, name: str) -> None:
    capture = http_capture(name)

    async with http.get(capture["path"], params=capture["params"]) as response:
        assert (response.status, await response.read()) == (capture["status"], b"")


async def test_view_serves_files_with_the_captured_headers(http: aiohttp.ClientSession) -> None:
    await warm_up(http, "c_video_core_savevideo")
    async with http.get("/history", params={"max_items": "1"}) as response:
        (latest,) = (await response.json()).values()
    (saved,) = latest["outputs"]["4"]["images"]

    for params, capture in (
        ({"filename": "contract_in.png", "type": "input"}, "get_view_input"),
        ({**saved}, "get_view_output_video_core"),
    ):
        async with http.get("/api/view", params=params) as response:
            body = await response.read()
        headers = dict(http_capture(capture)["headers"])
        assert response.status == 200
        assert response.headers["Content-Type"] == headers["content-type"]
        assert response.headers["Content-Disposition"] == f'filename="{params["filename"]}"'
        assert all(h in response.headers for h in ("ETag", "Last-Modified", "Accept-Ranges"))
        assert body[:8].hex() == http_capture(capture)["body_first16_hex"][:16]


async def test_upload_dedupes_renames_and_refuses_like_the_real_server(
    http: aiohttp.ClientSession,
) -> None:
    overwrite = {"overwrite": "true"}
    cases = [
        ("post_upload_image_same_bytes_again", "contract_in.png", png(), {}),
        ("post_upload_image_same_name_diff_bytes", "contract_in.png", png(shade=7), {}),
        ("post_upload_image_overwrite_true", "contract_in2.png", png(shade=3), overwrite),
        ("post_upload_image_overwrite_true_again", "contract_in2.png", png(), overwrite),
        ("post_upload_image_subfolder", "sub_in.png", png(), {"subfolder": "contract_sub"}),
        ("post_upload_image_type_temp", "tmp_in.png", png(), {"type": "temp"}),
        ("post_upload_non_image_txt", "notes.txt", b"hello notes\n", {}),
        ("post_upload_traversal_subfolder", "evil.png", png(), {"subfolder": "../../"}),
    ]
    for capture_name, filename, data, fields in cases:
        capture = http_capture(capture_name)
        response = await upload(http, filename, data, **fields)
        assert response.status == capture["status"], capture_name
        if capture["status"] == 200:
            assert await response.json() == capture["body"], capture_name

    form = aiohttp.FormData({"subfolder": "x"})
    async with http.post("/upload/image", data=form) as response:
        assert (response.status, await response.read()) == (400, b"")
    async with http.get(
        "/view", params={"filename": "sub_in.png", "type": "input", "subfolder": "contract_sub"}
    ) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    "name",
    [
        "get_history_unknown_id",
        "get_object_info_unknown_node",
        "get_models_no_such_folder",
        "get_models_vae",
        "get_models_unet_gguf",
        "get_features",
        "get_embeddings",
        "get_api_queue_idle",
    ],
)
async def test_simple_get_answers_like_the_real_server(
    http: aiohttp.ClientSession, name: str
) -> None:
    capture = http_capture(name)

    async with http.get(capture["path"]) as response:
        raw = await response.read()

    expected = capture.get("body")
    if capture["path"].startswith("/models/") and isinstance(expected, list):
        # Contract v2's server held exactly the presets' (tiny) files; ComfyUI-GGUF's
        # unet_gguf lists models/unet.
        folder = capture["path"].removeprefix("/models/").replace("unet_gguf", "unet")
        expected = sorted(f.name for f in model_files().values() if f.folder == folder)
    assert response.status == capture["status"]
    assert (json.loads(raw) if raw else None) == expected


async def test_queue_lists_deletes_and_clears_pending_prompts(
    http: aiohttp.ClientSession,
) -> None:
    slow = captured_prompt("e_interrupt")
    slow["2"]["inputs"]["steps"] = 500  # outlasts the test; the interrupt ends it
    async with listening(http) as listener:
        running = await submit(http, slow, listener.client_id)
        await listener.wait_for(lambda f: is_text(f, "progress"))
        pending = [
            await submit(
                http,
                {
                    **slow,
                    "3": {
                        **slow["3"],
                        "inputs": {**slow["3"]["inputs"], "filename_prefix": f"contract/q{i}"},
                    },
                },
                None,
            )
            for i in range(3)
        ]
        async with http.get("/queue") as response:
            queue = await response.json()
        assert [item[1] for item in queue["queue_running"]] == [running]
        assert sorted(item[1] for item in queue["queue_pending"]) == sorted(pending)

        async with http.post("/queue", json={"delete": [pending[0]]}) as response:
            assert response.status == 200
        async with http.get("/prompt") as response:
            assert await response.json() == {"exec_info": {"queue_remaining": 3}}
        async with http.post("/queue", json={"clear": True}) as response:
            assert response.status == 200
        async with http.post("/interrupt", json={"prompt_id": "not-running"}) as response:
            assert response.status == 200
        async with http.post("/interrupt", json={"prompt_id": running}) as response:
            assert response.status == 200
        await listener.wait_finished(running)

    assert (await history_of(http, running))["status"]["status_str"] == "error"
    async with http.get(f"/history/{pending[1]}") as response:
        assert await response.json() == {}


async def test_job_cancel_dequeues_a_pending_prompt_and_interrupts_the_running_one(
    http: aiohttp.ClientSession,
) -> None:
    # ComfyUI 0.33.0 POST /api/jobs/{id}/cancel: {"cancelled": bool}, 200 even when a no-op.
    slow = captured_prompt("e_interrupt")
    slow["2"]["inputs"]["steps"] = 500
    queued = {**slow, "3": {**slow["3"], "inputs": {**slow["3"]["inputs"], "filename_prefix": "q"}}}
    async with listening(http) as listener:
        running = await submit(http, slow, listener.client_id)
        await listener.wait_for(lambda f: is_text(f, "progress"))
        pending = await submit(http, queued, None)

        answers = []
        for job in (pending, pending, running, "no-such-job"):
            async with http.post(f"/api/jobs/{job}/cancel") as response:
                answers.append((response.status, await response.json()))
                if job == pending:
                    async with http.get("/queue") as queue:
                        left = (await queue.json())["queue_pending"]
        await listener.wait_finished(running)

    assert answers == [
        (200, {"cancelled": True}),
        (200, {"cancelled": False}),
        (200, {"cancelled": True}),
        (200, {"cancelled": False}),
    ]
    assert left == []
    assert (await history_of(http, running))["status"]["status_str"] == "error"
