"""One capture: the scenarios run against a live ComfyUI, everything written as data.

Layout under ``out`` (the one comfy-sim's ``contract/`` uses; ``docs/comfyui-capture.md``):
``object_info.json`` and ``system_stats.json`` (compact JSON, as the server sent them),
``transcripts/NAME.graph.json`` / ``NAME.history.json`` (indented by 1, UTF-8 unescaped, as
the reference capture wrote them) and ``NAME.ws.jsonl`` (one frame a line, ASCII-escaped),
``http/NAME.json`` (``record.exchange``) and ``capture.json`` (what ran, against what, and
how each scenario ended). Scenarios run in ``graphs.scenarios`` order on
one server, a scenario's prerequisite (``Scenario.needs``) with it; then the HTTP ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import math
import tempfile
import time
import uuid
import wave
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw

from pipeline.comfy.capture.graphs import (
    HEIGHT,
    IT_W0,
    PORTRAIT,
    PROMPT,
    SEED,
    SEG0_LAST,
    SHORT,
    SHORT_S,
    SPEECH,
    SPEECH_S,
    WIDTH,
    Scenario,
    rejected_graph,
    scenarios,
    with_tokenizer_options,
)
from pipeline.comfy.capture.nodes import graph_classes, keep_entries, preset_graphs
from pipeline.comfy.capture.record import Transcript, exchange
from pipeline.comfy.history import OutputFile, parse_history
from pipeline.domain.errors import ComfyError, ComfyTimeout, WorkerUnavailable
from workflows_comfy.graph import ApiGraph

HTTP_SCENARIOS = ("http_rejected", "http_jobs", "http_cancel")
"""``http_rejected``: a graph ``POST /prompt`` refuses; ``http_jobs``: ``/api/jobs`` (the
list and the job) and ``/queue`` while a prompt runs and after; ``http_cancel``:
``/api/jobs/{id}/cancel`` of a pending prompt, ``/interrupt`` with the running one's
``prompt_id``, their ``/history`` and ``/free``."""
SCENARIO_NAMES = (*(s.name for s in scenarios()), *HTTP_SCENARIOS)
LastFrame = Callable[[Path, Path], Path]
"""``(video, folder) → the png of video's last frame written in folder`` (the media layer's
``extract_last_frames``, handed in by the caller: ``pipeline.comfy`` does no ffmpeg)."""
OnStep = Callable[[str], None]
"""Told one line per step (``i2v_seg0: running``), for progress."""


@dataclass(frozen=True)
class CaptureRequest:
    url: str
    out: Path
    selected: Sequence[str] = SCENARIO_NAMES
    """Scenario names; their prerequisites run too."""
    tokenizer_options: bool = False
    """Add ``T5TokenizerOptions`` after every ``CLIPLoader`` (``graphs.TOKENIZER_OPTIONS``)."""
    extra_graphs: Sequence[ApiGraph] = ()
    """Graphs whose nodes ``object_info.json`` keeps as well (the bring-your-own examples)."""
    extra_nodes: Sequence[str] = ()
    """Node classes ``object_info.json`` keeps as well."""
    timeout: float = 1800.0
    """Seconds one prompt may take."""


@dataclass
class Outcome:
    """How one scenario went, as ``capture.json`` lists it."""

    name: str
    expected: str
    outcome: str = "skipped"
    """The terminal message (``execution_success``, ...), ``rejected``, ``timeout``, or
    ``skipped: ...``."""
    prompt_id: str | None = None
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "expected": self.expected,
            "outcome": self.outcome,
            "as_expected": self.outcome == self.expected,
            "prompt_id": self.prompt_id,
            "seconds": round(self.seconds, 3),
            "files": self.files,
        }


def portrait_png(width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """A face-like picture (a skin-toned oval with eyes and a mouth on grey), PNG bytes."""
    image = Image.new("RGB", (width, height), (90, 100, 110))
    draw = ImageDraw.Draw(image)
    cx, cy, rx, ry = width / 2, height / 2, width / 5, height / 2.6
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=(224, 172, 140))
    for ex in (cx - rx / 2.5, cx + rx / 2.5):
        draw.ellipse((ex - 2, cy - ry / 3 - 2, ex + 2, cy - ry / 3 + 2), fill=(40, 30, 30))
    draw.line((cx - rx / 3, cy + ry / 2.5, cx + rx / 3, cy + ry / 2.5), fill=(150, 60, 60), width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def tone_wav(seconds: float, rate: int = 16000, hz: float = 220.0) -> bytes:
    """``seconds`` of a sine tone, mono 16-bit PCM at ``rate`` Hz (wav2vec2's rate), WAV bytes."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(
            b"".join(
                int(8000 * math.sin(2 * math.pi * hz * i / rate)).to_bytes(2, "little", signed=True)
                for i in range(int(seconds * rate))
            )
        )
    return buffer.getvalue()


def selected_scenarios(names: Iterable[str], *, tokenizer_options: bool) -> list[Scenario]:
    """The prompt scenarios among ``names`` with their prerequisites, in capture order;
    ``ValueError`` naming an unknown name."""
    wanted = set(names)
    unknown = sorted(wanted - set(SCENARIO_NAMES))
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; known: {SCENARIO_NAMES}")
    every = scenarios(tokenizer_options=tokenizer_options)
    wanted |= {s.needs for s in every if s.name in wanted and s.needs}
    return [s for s in every if s.name in wanted]


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path.name


class _Capture:
    def __init__(
        self,
        request: CaptureRequest,
        http: httpx.AsyncClient,
        work: Path,
        last_frame: LastFrame,
        say: OnStep,
    ) -> None:
        self.request, self.http, self.last_frame, self.say = request, http, last_frame, say
        self.out = request.out
        self.ws_base = "ws" + request.url.rstrip("/").removeprefix("http")
        self.outputs: dict[str, OutputFile] = {}
        self.uploaded: set[str] = set()
        self.work = work
        """Where downloaded outputs and extracted frames go (a temporary folder)."""

    def http_file(self, name: str, record: dict[str, Any]) -> str:
        return "http/" + _write(
            self.out / "http" / f"{name}.json", json.dumps(record, indent=1, ensure_ascii=False)
        )

    async def get(self, path: str) -> Any:
        record = await exchange(self.http, "GET", path)
        if record["status"] != 200:
            raise ComfyError(f"GET {path} answered {record['status']}: {record['body']!r:.200}")
        return record["body"]

    async def upload(self, name: str, data: bytes, record_as: str | None = None) -> None:
        record = await exchange(
            self.http,
            "POST",
            "/upload/image",
            form={"type": "input", "overwrite": "true"},
            files={"image": (name, data, "application/octet-stream")},
        )
        if record["status"] != 200:
            raise ComfyError(f"uploading {name} answered {record['status']}: {record['body']!r}")
        if record_as:
            self.http_file(record_as, record)
        self.uploaded.add(name)

    async def post_prompt(self, graph: ApiGraph, client_id: str) -> dict[str, Any]:
        body = {"prompt": graph, "client_id": client_id}
        return await exchange(self.http, "POST", "/prompt", json_body=body)

    async def history(self, prompt_id: str) -> dict[str, Any]:
        """``GET /history/{id}``, read again briefly until it holds the prompt (ComfyUI
        writes it just before the last frame; the re-reads cover a slow disk)."""
        for _ in range(50):
            body = await self.get(f"/history/{prompt_id}")
            if isinstance(body, dict) and prompt_id in body:
                return body
            await asyncio.sleep(0.1)
        raise ComfyError(f"/history has no record of prompt {prompt_id} after it ended")

    async def download(self, output: OutputFile) -> Path:
        params = {"filename": output.filename, "subfolder": output.subfolder, "type": output.type}
        try:
            response = await self.http.get("/view", params=params)
        except httpx.TransportError as exc:
            raise WorkerUnavailable(f"GET /view failed: {exc!r}") from exc
        if response.status_code != 200:
            raise ComfyError(f"GET /view of {output.filename} answered {response.status_code}")
        path = self.work / output.filename
        path.write_bytes(response.content)
        return path

    async def prepare(self, scenario: Scenario) -> str | None:
        """Upload what ``scenario`` makes from an earlier output; why not, if it cannot."""
        if scenario.needs is None:
            return None
        output = self.outputs.get(scenario.needs)
        if output is None:
            return f"skipped: {scenario.needs} gave no video"
        wanted = SEG0_LAST if scenario.needs == "i2v_seg0" else IT_W0
        if wanted in self.uploaded:
            return None
        video = await self.download(output)
        if wanted == SEG0_LAST:
            frame = await asyncio.to_thread(self.last_frame, video, self.work)
            await self.upload(SEG0_LAST, frame.read_bytes())
        else:
            await self.upload(IT_W0, video.read_bytes())
        return None

    async def run_transcript(self, scenario: Scenario) -> Outcome:
        outcome = Outcome(scenario.name, scenario.expected)
        skipped = await self.prepare(scenario)
        if skipped:
            outcome.outcome = skipped
            return outcome
        self.say(f"{scenario.name}: running")
        started = time.monotonic()
        client_id = uuid.uuid4().hex
        transcript = Transcript(f"{self.ws_base}/ws?clientId={client_id}")
        base = self.out / "transcripts" / scenario.name
        try:
            await transcript.open()
            posted = await self.post_prompt(scenario.graph, client_id)
            answer = posted["body"] if isinstance(posted["body"], dict) else {}
            prompt_id = answer.get("prompt_id")
            if posted["status"] != 200 or not isinstance(prompt_id, str):
                outcome.outcome = "rejected"
                outcome.files.append(self.http_file(f"{scenario.name}_rejected", posted))
                return outcome
            outcome.prompt_id = prompt_id
            try:
                terminal = await transcript.wait(prompt_id, self.request.timeout)
                outcome.outcome = terminal.get("type", "ended without a terminal message")
            except ComfyTimeout:
                outcome.outcome = "timeout"
                await exchange(self.http, "POST", "/interrupt", json_body={"prompt_id": prompt_id})
                return outcome
            history = await self.history(prompt_id)
        finally:
            await transcript.close()
            outcome.seconds = time.monotonic() - started
        graph_text = json.dumps(scenario.graph, indent=1, ensure_ascii=False)
        history_text = json.dumps(history[prompt_id], indent=1, ensure_ascii=False)
        lines = "\n".join(json.dumps(frame) for frame in transcript.frames)
        outcome.files += [
            "transcripts/" + _write(base.with_suffix(".graph.json"), graph_text),
            "transcripts/" + _write(base.with_suffix(".history.json"), history_text),
            "transcripts/" + _write(base.with_suffix(".ws.jsonl"), lines),
        ]
        entry = parse_history(history, prompt_id)
        videos = [f for f in entry.output_files() if f.animated] if entry else []
        if videos:
            self.outputs[scenario.name] = videos[0]
        return outcome

    def http_graph(self, seed: int, prefix: str) -> ApiGraph:
        """An i2v graph with its own seed and prefix: its samplers and decode run again."""
        graph = json.loads(json.dumps(scenarios()[0].graph))
        for node in graph.values():
            inputs = node["inputs"]
            if "noise_seed" in inputs:
                inputs["noise_seed"] = seed
            if node["class_type"] == "SaveVideo":
                inputs["filename_prefix"] = prefix
        return with_tokenizer_options(graph) if self.request.tokenizer_options else graph

    async def http_rejected(self) -> Outcome:
        outcome = Outcome("http_rejected", "rejected")
        posted = await self.post_prompt(rejected_graph(self.http_graph(SEED, "video/x")), "capture")
        body = posted["body"] if isinstance(posted["body"], dict) else {}
        rejected = posted["status"] == 400 and bool(body.get("node_errors"))
        outcome.outcome = "rejected" if rejected else f"answered {posted['status']}"
        outcome.files.append(self.http_file("prompt_rejected", posted))
        return outcome

    async def http_jobs(self) -> Outcome:
        outcome = Outcome("http_jobs", "execution_success")
        client_id = uuid.uuid4().hex
        transcript = Transcript(f"{self.ws_base}/ws?clientId={client_id}")
        await transcript.open()
        try:
            graph = self.http_graph(SEED + 100, "video/capture_http_jobs")
            posted = await self.post_prompt(graph, client_id)
            outcome.files.append(self.http_file("prompt_accepted", posted))
            prompt_id = str(posted["body"]["prompt_id"])
            outcome.prompt_id = prompt_id
            await self.jobs(prompt_id, "running", outcome)
            terminal = await transcript.wait(prompt_id, self.request.timeout)
            outcome.outcome = terminal.get("type", "ended without a terminal message")
            await self.history(prompt_id)
            await self.jobs(prompt_id, "done", outcome)
        finally:
            await transcript.close()
        return outcome

    async def jobs(self, prompt_id: str, when: str, outcome: Outcome) -> None:
        for name, path in (
            (f"jobs_{when}", "/api/jobs"),
            (f"job_{when}", f"/api/jobs/{prompt_id}"),
            (f"queue_{when}", "/queue"),
        ):
            outcome.files.append(self.http_file(name, await exchange(self.http, "GET", path)))

    async def http_cancel(self) -> Outcome:
        outcome = Outcome("http_cancel", "execution_interrupted")
        client_id = uuid.uuid4().hex
        transcript = Transcript(f"{self.ws_base}/ws?clientId={client_id}")
        await transcript.open()

        async def record(name: str, sent: Awaitable[dict[str, Any]]) -> None:
            outcome.files.append(self.http_file(name, await sent))

        try:
            ids = []
            for seed, suffix in ((SEED + 200, "running"), (SEED + 201, "pending")):
                graph = self.http_graph(seed, f"video/capture_http_{suffix}")
                ids.append(str((await self.post_prompt(graph, client_id))["body"]["prompt_id"]))
            running, pending = ids
            outcome.prompt_id = running
            await record("queue_with_pending", exchange(self.http, "GET", "/queue"))
            await record(
                "job_cancel_pending", exchange(self.http, "POST", f"/api/jobs/{pending}/cancel")
            )
            await record("queue_after_cancel", exchange(self.http, "GET", "/queue"))
            await record(
                "interrupt_prompt_id",
                exchange(self.http, "POST", "/interrupt", json_body={"prompt_id": running}),
            )
            terminal = await transcript.wait(running, self.request.timeout)
            outcome.outcome = terminal.get("type", "ended without a terminal message")
            await self.history(running)
            await record("history_interrupted", exchange(self.http, "GET", f"/history/{running}"))
            await record("history_cancelled", exchange(self.http, "GET", f"/history/{pending}"))
            free = {"unload_models": True, "free_memory": True}
            await record("free", exchange(self.http, "POST", "/free", json_body=free))
        finally:
            await transcript.close()
        return outcome


@contextlib.asynccontextmanager
async def _work_dir() -> AsyncIterator[Path]:
    with tempfile.TemporaryDirectory(prefix="comfyui-capture-") as folder:
        yield Path(folder)


def _commit(system: dict[str, Any]) -> Any:
    """The server's commit if ``/system_stats`` names one (0.33.0 does not: ``server.py``)."""
    return next((value for key, value in system.items() if "commit" in key), None)


async def capture(
    request: CaptureRequest, *, last_frame: LastFrame, say: OnStep = lambda _: None
) -> dict[str, Any]:
    """Run ``request``'s scenarios against its server and write the layout (module
    docstring) under ``request.out``; returns what ``capture.json`` holds.

    ``ValueError`` for an unknown scenario; ``WorkerUnavailable`` when the server cannot
    be reached; ``ComfyError`` when it answers a read or an upload with an error. A
    scenario that ends otherwise than expected is recorded as such, not raised.
    """
    chosen = selected_scenarios(request.selected, tokenizer_options=request.tokenizer_options)
    started = time.monotonic()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    async with (
        httpx.AsyncClient(
            base_url=request.url.rstrip("/"), timeout=httpx.Timeout(120.0, connect=10.0)
        ) as http,
        _work_dir() as work,
    ):
        run = _Capture(request, http, work, last_frame, say)
        say("reading /system_stats and /object_info")
        stats = await run.get("/system_stats")
        _write(request.out / "system_stats.json", json.dumps(stats))
        info = await run.get("/object_info")
        every = scenarios(tokenizer_options=request.tokenizer_options)
        graphs = [*preset_graphs(), *request.extra_graphs, *(s.graph for s in every)]
        classes = graph_classes(graphs) | set(request.extra_nodes)
        kept, missing = keep_entries(info, classes)
        _write(request.out / "object_info.json", json.dumps(kept))
        say("uploading the inputs")
        await run.upload(PORTRAIT, portrait_png(), record_as="upload_image")
        await run.upload(SPEECH, tone_wav(SPEECH_S))
        await run.upload(SHORT, tone_wav(SHORT_S))
        outcomes = [await run.run_transcript(s) for s in chosen]
        for name in HTTP_SCENARIOS:
            if name in request.selected:
                say(f"{name}: running")
                began = time.monotonic()
                outcomes.append(await getattr(run, name)())
                outcomes[-1].seconds = time.monotonic() - began
        for done in outcomes:
            say(f"{done.name}: {done.outcome} ({done.seconds:.1f} s)")
    system = stats.get("system", {}) if isinstance(stats, dict) else {}
    report = {
        "comfyui_version": system.get("comfyui_version"),
        "commit": _commit(system),
        "date": date,
        "url": request.url,
        "tokenizer_options": request.tokenizer_options,
        "width": WIDTH,
        "height": HEIGHT,
        "seed": SEED,
        "prompt": PROMPT,
        "object_info": {"nodes": sorted(kept), "missing": missing},
        "scenarios": [o.as_json() for o in outcomes],
        "seconds": round(time.monotonic() - started, 1),
    }
    _write(request.out / "capture.json", json.dumps(report, indent=1))
    return report
