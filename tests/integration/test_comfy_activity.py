"""The GPU activity against comfy-sim and SeaweedFS: every kind, OOM retry after /free, cancel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from PIL import Image, ImageSequence
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.comfy import ComfyActivities
from pipeline.config import Settings
from pipeline.domain.errors import WorkerUnavailable
from pipeline.domain.frames.plan import FramePlan, plan_i2v, plan_infinitetalk, plan_s2v
from pipeline.domain.layout import SessionLayout
from pipeline.domain.manifest import Kind
from pipeline.fleet.admission import Admission
from pipeline.media import probe
from pipeline.stack.process import free_port
from pipeline.standins import framecode
from pipeline.standins.comfy_sim import run_sim
from pipeline.storage import ObjectStore
from tests.conftest import S3Bucket
from tests.integration.comfy_support import I2V_PLAN, SIZE, segment_request
from workflows_comfy.graph import graph_sha256
from workflows_comfy.preset_file import install_presets_file

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with run_sim("127.0.0.1", 0, tmp_path_factory.mktemp("comfy-sim"), 0.01) as url:
        yield url


@pytest.fixture(scope="module")
def settings(s3_bucket: S3Bucket, sim: str) -> Settings:
    return s3_bucket.settings(
        COMFYUI_URL=sim,
        COMFYUI_TIMEOUT_S=60,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def store(settings: Settings) -> AsyncIterator[ObjectStore]:
    async with ObjectStore(settings) as opened:
        yield opened


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def comfy(store: ObjectStore, settings: Settings) -> ComfyActivities:
    return await ComfyActivities.connect(store, settings, Admission("gpu.worker.test"))


async def sim_record(sim: str) -> dict[str, list[Any]]:
    async with httpx.AsyncClient() as raw:
        record: dict[str, list[Any]] = (await raw.get(f"{sim}/sim/record")).json()
        return record


async def queue_faults(sim: str, *faults: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as raw:
        answer = await raw.post(f"{sim}/sim/faults", json={"faults": list(faults)})
        assert answer.status_code == 200


async def segment_frames(store: ObjectStore, key: str, tmp_path: Path) -> tuple[int | None, bool]:
    path = tmp_path / "segment.mp4"
    await store.download(key, path)
    info = await asyncio.to_thread(probe, path)
    return info.frame_count, info.has_audio


@pytest.mark.parametrize(
    ("kind", "plan"),
    [
        (Kind.S2V, plan_s2v(4.0, width=SIZE, height=SIZE)),
        (Kind.INFINITETALK, plan_infinitetalk(3.0, width=SIZE, height=SIZE)),
    ],
)
async def test_audio_kinds_render_the_frames_their_plan_gives_with_the_audio(
    comfy: ComfyActivities, store: ObjectStore, tmp_path: Path, kind: Kind, plan: FramePlan
) -> None:
    request = await segment_request(store, kind, plan)

    output = await ActivityEnvironment().run(comfy.generate_segment, request)

    assert output.frames == plan.segments[0].length
    assert await segment_frames(store, output.key, tmp_path) == (plan.segments[0].length, True)


async def test_out_of_memory_is_retried_once_after_freeing_comfyui_memory(
    comfy: ComfyActivities, store: ObjectStore, sim: str, tmp_path: Path
) -> None:
    request = await segment_request(store, Kind.I2V, I2V_PLAN)
    freed_before = len((await sim_record(sim))["free"])
    await queue_faults(sim, {"kind": "oom", "step": 1})
    env = ActivityEnvironment()
    beats: list[dict[str, Any]] = []
    env.on_heartbeat = lambda *details: beats.append(details[0])

    output = await env.run(comfy.generate_segment, request)

    freed = (await sim_record(sim))["free"][freed_before:]
    assert freed == [{"unload_models": True, "free_memory": True}]
    assert await segment_frames(store, output.key, tmp_path) == (17, False)
    sampling = [b for b in beats if b.get("class_type") == "KSamplerAdvanced" and b.get("max") == 2]
    assert [b["value"] for b in sampling] == [1, 2, 1, 2]


async def test_out_of_memory_twice_surfaces_as_a_retryable_error(
    comfy: ComfyActivities, store: ObjectStore, sim: str
) -> None:
    request = await segment_request(store, Kind.I2V, I2V_PLAN)
    freed_before = len((await sim_record(sim))["free"])
    await queue_faults(sim, {"kind": "oom", "step": 1}, {"kind": "oom", "step": 1})

    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(comfy.generate_segment, request)

    assert caught.value.type == "comfy_out_of_memory"
    assert not caught.value.non_retryable
    assert len((await sim_record(sim))["free"]) == freed_before + 1


async def test_cancelling_the_activity_interrupts_comfyui(
    comfy: ComfyActivities, store: ObjectStore, sim: str
) -> None:
    request = await segment_request(store, Kind.I2V, I2V_PLAN)
    interrupts_before = len((await sim_record(sim))["interrupt"])
    await queue_faults(sim, {"kind": "hang", "step": 1, "node_type": "KSamplerAdvanced"})
    env = ActivityEnvironment()
    sampling = asyncio.Event()
    env.on_heartbeat = lambda *details: (
        sampling.set() if details[0].get("class_type") == "KSamplerAdvanced" else None
    )
    running = asyncio.ensure_future(env.run(comfy.generate_segment, request))
    async with asyncio.timeout(30):
        await sampling.wait()

    env.cancel()

    with pytest.raises(asyncio.CancelledError):
        await running
    interrupts = (await sim_record(sim))["interrupt"][interrupts_before:]
    assert [set(body) for body in interrupts] == [{"prompt_id"}]  # Its own prompt only.
    async with httpx.AsyncClient() as raw, asyncio.timeout(10):
        while True:  # The hung prompt ends once interrupted.
            if not (await raw.get(f"{sim}/queue")).json()["queue_running"]:
                break
            await asyncio.sleep(0.05)


async def test_a_gpu_worker_waits_for_its_comfyui_to_come_up(
    store: ObjectStore, settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    late = settings.model_copy(update={"comfyui_url": f"http://127.0.0.1:{port}"})

    async def start_comfyui_late() -> None:
        await asyncio.sleep(1.5)
        async with run_sim("127.0.0.1", port, tmp_path, 0.01):
            await asyncio.sleep(5)

    later = asyncio.create_task(start_comfyui_late())
    try:
        connected = await ComfyActivities.connect(store, late, Admission("gpu.worker.late"))
    finally:
        later.cancel()
    assert "WanImageToVideo" in connected.capabilities.object_info


async def test_a_gpu_worker_gives_up_when_comfyui_never_answers(
    store: ObjectStore, settings: Settings
) -> None:
    absent = settings.model_copy(
        update={"comfyui_url": f"http://127.0.0.1:{free_port()}", "comfyui_start_timeout_s": 1.0}
    )
    with pytest.raises(WorkerUnavailable):
        await ComfyActivities.connect(store, absent, Admission("gpu.worker.absent"))


async def hide_models(sim: str, *names: str) -> None:
    async with httpx.AsyncClient() as raw:
        answer = await raw.post(f"{sim}/sim/models", json={"hidden": list(names)})
        assert answer.status_code == 200


async def test_a_preset_whose_models_were_removed_is_handed_back_and_no_longer_polled(
    comfy: ComfyActivities, store: ObjectStore, sim: str
) -> None:
    request = await segment_request(store, Kind.I2V, I2V_PLAN)
    assert "wan22-i2v-fp8" in comfy.admission.serving
    await hide_models(sim, "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors")
    try:
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(comfy.generate_segment, request)
        serving_after = comfy.admission.serving
    finally:
        await hide_models(sim)
        await comfy.capabilities.refresh()

    assert caught.value.type == "preset_unavailable"
    assert not caught.value.non_retryable
    assert (
        "missing model diffusion_models/wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"
        in caught.value.message
    )
    assert "wan22-i2v-fp8" not in serving_after
    assert "wan22-i2v-gguf" in serving_after
    assert "wan22-i2v-fp8" in comfy.admission.serving


async def test_heartbeats_keep_coming_while_a_node_makes_no_progress(
    comfy: ComfyActivities, store: ObjectStore, sim: str, settings: Settings
) -> None:
    quick = ComfyActivities(
        store,
        settings.model_copy(update={"gpu_heartbeat_s": 0.1}),
        comfy.admission,
        comfy.capabilities,
    )
    request = await segment_request(store, Kind.I2V, I2V_PLAN)
    await queue_faults(sim, {"kind": "hang", "step": 0, "node_type": "VAEDecode"})
    env = ActivityEnvironment()
    beats: list[dict[str, Any]] = []
    decoding = asyncio.Event()

    def beat(*details: Any) -> None:
        beats.append(details[0])
        if details[0].get("class_type") == "VAEDecode":
            decoding.set()

    env.on_heartbeat = beat
    running = asyncio.ensure_future(env.run(quick.generate_segment, request))
    async with asyncio.timeout(30):
        await decoding.wait()
    seen = len(beats)

    await asyncio.sleep(1.0)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    silent = beats[seen:]
    assert len(silent) >= 5
    assert all(b["class_type"] == "VAEDecode" and b["stage"] == "rendering" for b in silent)
    assert all(b["doing"] == "decoding" for b in silent)


async def test_a_long_silence_of_a_running_prompt_is_waited_out_on_one_socket(
    comfy: ComfyActivities, store: ObjectStore, sim: str, settings: Settings
) -> None:
    # A real CPU text encode: `executing`, then nothing for minutes. Here 4 s, 16 polls
    # and 8 keepalive pings long (the old client reopened a socket silent that long).
    quiet = ComfyActivities(
        store,
        settings.model_copy(
            update={"gpu_heartbeat_s": 0.1, "comfyui_poll_s": 0.25, "comfyui_ws_ping_s": 0.5}
        ),
        comfy.admission,
        comfy.capabilities,
    )
    request = await segment_request(store, Kind.I2V, I2V_PLAN)
    fresh = request.manifest.model_copy(update={"prompt": f"silence {request.session_id}"})
    request = request.model_copy(update={"manifest": fresh})  # Its encode is not cached.
    await queue_faults(
        sim, {"kind": "silence", "step": 0, "node_type": "CLIPTextEncode", "seconds": 4.0}
    )
    env = ActivityEnvironment()
    beats: list[dict[str, Any]] = []
    env.on_heartbeat = lambda *details: beats.append(details[0])

    with capture_logs() as logs:
        output = await env.run(quiet.generate_segment, request)

    assert output.frames == I2V_PLAN.segments[0].length
    events = [entry["event"] for entry in logs]
    assert events.count("comfy_ws_opened") == 1
    assert "comfy_ws_closed" not in events
    encoding = [b for b in beats if b.get("doing") == "encoding prompt"]
    assert len(encoding) >= 20  # Heartbeats kept coming through the 4 s, saying why.
    assert {b["class_type"] for b in encoding} == {"CLIPTextEncode"}
    assert any(b.get("doing", "").startswith("sampling step") for b in beats)


async def test_a_bound_graphs_segment_is_the_video_of_its_output_node(
    store: ObjectStore, settings: Settings, tmp_path: Path, restored_presets: None
) -> None:
    examples = Path(__file__).parents[2] / "deploy" / "presets" / "examples"
    graph = json.loads((examples / "i2v.json").read_text())
    # A one-frame preview of the start image, saved before the bound output.
    graph = {
        "0": {"class_type": "SaveVideo", "inputs": {**graph["17"]["inputs"], "video": ["00", 0]}},
        "00": {"class_type": "CreateVideo", "inputs": {"images": ["1", 0], "fps": 16.0}},
        **graph,
    }
    (tmp_path / "preview.json").write_text(json.dumps(graph))
    presets = (examples / "presets.toml").read_text().split('\n[[preset]]\nname = "studio-s2v')[0]
    presets = presets.replace('"studio-i2v"', '"studio-preview"').replace(
        "i2v.json", "preview.json"
    )
    (tmp_path / "presets.toml").write_text(presets)
    install_presets_file(tmp_path / "presets.toml")
    comfy = await ComfyActivities.connect(store, settings, Admission("gpu.worker.bound"))
    request = await segment_request(store, Kind.I2V, I2V_PLAN)
    request = request.model_copy(
        update={"manifest": request.manifest.model_copy(update={"preset": "studio-preview"})}
    )

    output = await ActivityEnvironment().run(comfy.generate_segment, request)

    assert await segment_frames(store, output.key, tmp_path) == (17, False)


async def submitted_graph(sim: str, prompt_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as raw:
        history = (await raw.get(f"{sim}/history/{prompt_id}")).json()
    graph: dict[str, Any] = history[prompt_id]["prompt"][2]
    return graph


async def test_a_window_continues_the_motion_frames_the_previous_window_stored(
    comfy: ComfyActivities, store: ObjectStore, sim: str, tmp_path: Path
) -> None:
    plan = plan_infinitetalk(4.0, width=SIZE, height=SIZE)
    first = await segment_request(store, Kind.INFINITETALK, plan)
    layout = SessionLayout(first.session_id)
    env = ActivityEnvironment()

    window_0 = await env.run(comfy.generate_segment, first)
    motion = tmp_path / "motion.png"
    await store.download(layout.segment_motion_frames("r1", 0), motion)
    second = first.model_copy(
        update={"segment": plan.segments[1], "previous_key": window_0.key, "seed": 6}
    )
    window_1 = await env.run(comfy.generate_segment, second)

    with Image.open(motion) as saved:
        codes = [framecode.read(frame.convert("RGB")) for frame in ImageSequence.Iterator(saved)]
    assert codes == list(range(72, 81))  # window 0's last 9 decoded frames
    loaders = [
        node for node in (await submitted_graph(sim, window_1.prompt_id)).values()
        if node["class_type"] in ("LoadImage", "LoadVideo")
    ]  # fmt: skip
    assert [(n["class_type"], n["_meta"]["title"]) for n in loaders] == [
        ("LoadImage", "Portrait"),
        ("LoadImage", "Previous frames"),
    ]
    assert await segment_frames(store, window_1.key, tmp_path) == (81, True)
    # Its rendering names the very prompt ComfyUI ran, and the server it ran on.
    assert window_1.rendering is not None
    submitted = await submitted_graph(sim, window_1.prompt_id)
    assert window_1.rendering.graph_sha256 == graph_sha256(submitted)
    assert window_1.rendering.comfyui_version == comfy.capabilities.server.version
    assert window_1.rendering.gpu_s > 0
    # The last window hands over nothing.
    assert await store.head(layout.segment_motion_frames("r1", 1)) is None


async def test_a_segment_with_an_extension_stores_its_last_decoded_frame(
    comfy: ComfyActivities, store: ObjectStore, tmp_path: Path
) -> None:
    plan = plan_i2v(extensions=1, fps=16, segment_length=17, width=SIZE, height=SIZE)
    request = await segment_request(store, Kind.I2V, plan)

    await ActivityEnvironment().run(comfy.generate_segment, request)

    last = tmp_path / "last.png"
    await store.download(SessionLayout(request.session_id).segment_last_frame("r1", 0), last)
    with Image.open(last) as frame:
        assert (frame.format, frame.mode, frame.size) == ("PNG", "RGB", (SIZE, SIZE))
        assert framecode.read(frame) == 16
