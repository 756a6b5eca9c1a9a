"""Fleet: K GPU workers of mixed contents behind the real stack; M sessions dropped at once.

Starts a private embedded stack (Temporal dev server, moto playing the bucket, one CPU
worker) and K GPU workers, each a ``pipeline worker gpu`` process owning its own comfy-sim
process that spends ``--step-delay`` seconds per sampling step. ``--missing-preset P:N``
takes preset P's own model files (those no other preset uses) out of N workers' ComfyUI,
as on a box whose sync skipped them: those workers do not serve P. M i2v sessions, their
presets alternating between the i2v presets, are then started at once, twice: once on the
whole fleet, once with one GPU worker (and its ComfyUI) killed with SIGKILL after a third
of the segments.

Figures (one JSON line at the end):

- ``completed`` / ``failed``: sessions of the first round (target M / 0); ``killed_run_*``
  the same for the round with a worker killed (target M / 0).
- ``gpu_busy_ratio``: the ComfyUIs' execution time (``execution_start`` →
  ``execution_success`` in each prompt's ``/history`` status messages) over K times the window
  in which every worker had work: from the last worker's first prompt to the first
  worker's last prompt (target ≥ 0.97). ``gpu_busy_ratio_each_span`` is the same over each
  worker's own span, first prompt to last, tails without work included.
  ``baseline_segment_s`` is the mean execution of one segment, from the same run.
- ``sticky_hit_rate``: later segments rendered by the worker that rendered the session's
  first one (Temporal's history: the identity that completed each ``generate_segment``);
  target 1.0 when no worker dies.
- With ``--audio-sessions A``, A s2v sessions that separate vocals are dropped beside the
  i2v ones, and only the last ``--separating N`` workers have a (stand-in) Demucs model:
  ``audio_completed`` (target A) and ``separated_where_able``, the share of separations
  completed by a worker that announced it can separate (target 1.0).

    .venv/bin/python -m bench.fleet --workers 3 --sessions 12 --missing-preset wan22-i2v-fp8:1
    .venv/bin/python -m bench.fleet --workers 3 --sessions 6 --audio-sessions 6 --separating 1
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ffmpeg
import httpx
from PIL import Image
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from pipeline.config import Settings
from pipeline.domain.drop import DropRef
from pipeline.fleet.registry import live_workers
from pipeline.ingest.starter import Starter
from pipeline.stack.embedded import private_settings, settings_env, stack_config_for
from pipeline.stack.process import free_port
from pipeline.stack.supervisor import ChildSpec, Stack
from pipeline.standins.tiny_demucs import ensure_stand_in
from pipeline.storage import ObjectStore
from pipeline.temporal_client import connect
from workflows_comfy.presets import PRESETS, presets_of
from workflows_comfy.servable import preset_models

SIZE = {"width": 256, "height": 144}
STICKY_S = 20.0
"""Sticky wait in the bench: above one segment (a worker busy with another session), well
under the default, so sessions of the killed worker move on within the run."""
SESSION_LIMIT_S = 900.0
AUDIO_S = 1.5
"""Length of an s2v session's speech: one window at 16 fps."""


@dataclass
class GpuBox:
    """One simulated GPU box: a comfy-sim process and the GPU worker that owns it."""

    index: int
    comfy_url: str
    hidden: frozenset[str]
    specs: list[ChildSpec] = field(default_factory=list)


def parse_missing(values: Iterable[str], workers: int) -> dict[str, int]:
    """``["wan22-i2v-fp8:1"]`` → ``{"wan22-i2v-fp8": 1}``; ``ValueError`` saying what is wrong."""
    found: dict[str, int] = {}
    for value in values:
        name, _, count = value.partition(":")
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
        if not count.isdigit() or not 0 < int(count) < workers:
            raise ValueError(
                f"{value!r}: the count must be 1..{workers - 1} (some worker serves it)"
            )
        found[name] = int(count)
    return found


def own_files(preset: str) -> frozenset[str]:
    """Files only ``preset`` uses: taking them away removes that preset and no other."""
    others = {m.name for name in PRESETS if name != preset for m in preset_models(name)}
    return frozenset(m.name for m in preset_models(preset) if m.name not in others)


def boxes(
    settings: Settings,
    state: Path,
    workers: int,
    missing: dict[str, int],
    step_delay: float,
    separating: int = 0,
) -> list[GpuBox]:
    """K boxes; the first ones lack ``missing`` presets' files, the last ``separating`` ones
    have the stand-in Demucs model (the others cannot separate vocals)."""
    demucs = ensure_stand_in(state / "models") if separating else None
    if separating and demucs is None:
        raise RuntimeError("--separating needs torch and demucs (the 'separation' extra)")
    env = {
        **settings_env(settings),
        "LOG_LEVEL": "warning",
        "GPU_DRAIN_GRACE_S": "5",
        "GPU_HEALTH_INTERVAL_S": "1",
        "STICKY_SCHEDULE_TO_START_S": str(STICKY_S),
    }
    python = [sys.executable, "-m"]
    made = []
    for index in range(workers):
        hidden = frozenset(
            name for preset, count in missing.items() if index < count for name in own_files(preset)
        )
        port = free_port()
        box = GpuBox(index, f"http://127.0.0.1:{port}", hidden)
        sim_argv = [
            *python,
            "pipeline.standins.comfy_sim",
            "--port",
            str(port),
            "--data-dir",
            str(state / f"comfy-{index}"),
            "--step-delay",
            str(step_delay),
        ]
        for name in sorted(hidden):
            sim_argv += ["--hide-model", name]
        box.specs = [
            ChildSpec(f"comfy-{index}", sim_argv, env),
            ChildSpec(
                f"worker-gpu-{index}",
                [*python, "pipeline", "worker", "gpu"],
                {
                    **env,
                    "COMFYUI_URL": box.comfy_url,
                    "PIPELINE_WORK_DIR": str(state / f"work-{index}"),
                    "DEMUCS_MODEL_PATH": str(demucs) if index >= workers - separating else "",
                },
            ),
        ]
        made.append(box)
    return made


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (SIZE["width"], SIZE["height"]), (40, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def wav(seconds: float) -> bytes:
    """A stereo 44.1 kHz tone, as a speech track stands in for here."""
    source = ffmpeg.input(f"sine=frequency=220:sample_rate=44100:duration={seconds}", f="lavfi")
    out, _ = source.output("pipe:", f="wav", ac=2).run(capture_stdout=True, quiet=True)
    return bytes(out)


async def drop_sessions(
    settings: Settings,
    starter: Starter,
    round_name: str,
    sessions: int,
    extensions: int,
    audio_sessions: int = 0,
) -> list[str]:
    """Upload M i2v drops and ``audio_sessions`` s2v drops that separate vocals (media, then
    manifest) and start each session; their workflow ids, the i2v ones first."""
    presets = presets_of("i2v")
    image = png()
    speech = wav(AUDIO_S) if audio_sessions else b""
    async with ObjectStore(settings) as store:

        async def one(index: int) -> str:
            folder = f"inbox/fleet-{round_name}-{index:03d}"
            await store.put_bytes(f"{folder}/face.png", image, "image/png")
            manifest: dict[str, Any] = {"kind": "i2v", "image": "face.png", **SIZE}
            if index < sessions:
                manifest |= {"preset": presets[index % len(presets)], "extensions": extensions}
            else:
                await store.put_bytes(f"{folder}/speech.wav", speech, "audio/wav")
                manifest |= {"kind": "s2v", "audio": "speech.wav", "separate_vocals": True}
            key = f"{folder}/manifest.json"
            etag = await store.put_bytes(key, json.dumps(manifest).encode(), "application/json")
            drop = DropRef.of(store.bucket, key, etag)
            await starter.start(drop, source="bench")
            return drop.workflow_id

        return list(await asyncio.gather(*(one(i) for i in range(sessions + audio_sessions))))


async def outcomes(client: Client, workflow_ids: list[str]) -> tuple[int, int]:
    async def one(workflow_id: str) -> bool:
        handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(workflow_id)
        try:
            await asyncio.wait_for(handle.result(), SESSION_LIMIT_S)
        except WorkflowFailureError:
            return False
        return True

    done = await asyncio.gather(*(one(w) for w in workflow_ids))
    return sum(done), len(done) - sum(done)


async def completed_by(client: Client, workflow_id: str, activity: str) -> list[str]:
    """Identity of the worker that completed each ``activity`` of the session, in order."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    events = {event.event_id: event for event in history.events}
    found = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            continue
        completed = event.activity_task_completed_event_attributes
        scheduled = events[completed.scheduled_event_id].activity_task_scheduled_event_attributes
        if scheduled.activity_type.name == activity:
            found.append(completed.identity)
    return found


async def sticky_hit_rate(client: Client, workflow_ids: list[str]) -> float:
    hits = later = 0
    for workflow_id in workflow_ids:
        identities = await completed_by(client, workflow_id, "generate_segment")
        later += len(identities) - 1
        hits += sum(identity == identities[0] for identity in identities[1:])
    return hits / later if later else 1.0


async def executions(comfy_url: str) -> list[tuple[float, float]]:
    """(start, end) in seconds of every prompt this ComfyUI ran to success."""
    async with httpx.AsyncClient(timeout=30) as http:
        history = (await http.get(f"{comfy_url}/history")).json()
    spans = []
    for entry in history.values():
        stamps = {kind: data["timestamp"] / 1000 for kind, data in entry["status"]["messages"]}
        if "execution_start" in stamps and "execution_success" in stamps:
            spans.append((stamps["execution_start"], stamps["execution_success"]))
    return sorted(spans)


def busy_ratio(per_worker: list[list[tuple[float, float]]]) -> tuple[float, float]:
    """Execution time over K times the window in which every worker had work; and the window."""
    worked = [spans for spans in per_worker if spans]
    if len(worked) < len(per_worker):
        return 0.0, 0.0
    start = max(spans[0][0] for spans in worked)
    end = min(spans[-1][1] for spans in worked)
    if end <= start:
        return 0.0, 0.0
    busy = sum(max(0.0, min(b, end) - max(a, start)) for spans in worked for a, b in spans)
    return busy / (len(worked) * (end - start)), end - start


async def wait_for_fleet(client: Client, settings: Settings, workers: int) -> set[str]:
    """Wait until all ``workers`` poll; the identities of those that can separate vocals."""
    deadline = time.monotonic() + 120
    async with ObjectStore(settings) as store:
        while True:
            live = await live_workers(client, store, settings.temporal_gpu_task_queue)
            if len(live) == workers and all(w.status == "polling" for w in live):
                return {
                    w.record.identity
                    for w in live
                    if not w.record.separation.startswith("unavailable")
                }
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(live)} of {workers} GPU workers came up in 120 s")
            await asyncio.sleep(0.5)


async def kill_after(stack: Stack, box: GpuBox, comfy_urls: list[str], prompts: int) -> float:
    """SIGKILL ``box``'s worker and ComfyUI once the ComfyUIs ran ``prompts``; when it did."""
    while True:
        ran = sum([len(await executions(url)) for url in comfy_urls])
        if ran >= prompts:
            break
        await asyncio.sleep(0.5)
    for process in stack.processes:
        if process.name in {spec.name for spec in box.specs} and process.pid is not None:
            os.killpg(process.pid, signal.SIGKILL)
    return time.time()


async def separated_where_able(
    client: Client, workflow_ids: list[str], able: set[str]
) -> float | None:
    """The share of the sessions' separations completed by a worker in ``able``."""
    done = [w for wid in workflow_ids for w in await completed_by(client, wid, "separate_vocals")]
    return round(sum(w in able for w in done) / len(done), 4) if done else None


async def run_fleet(
    *,
    workers: int,
    sessions: int,
    missing: dict[str, int],
    step_delay: float,
    extensions: int,
    kill: bool,
    audio_sessions: int = 0,
    separating: int = 0,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        state = Path(tmp)
        settings = private_settings(state, LOG_LEVEL="warning")
        config = stack_config_for(settings, run_comfy=False)
        fleet = boxes(settings, state, workers, missing, step_delay, separating)
        children = [c for c in config.children if c.name == "worker-cpu"]
        children += [spec for box in fleet for spec in box.specs]
        stack = Stack(dataclasses.replace(config, children=children))
        await stack.start()
        try:
            client = await connect(settings)
            able = await wait_for_fleet(client, settings, workers)
            starter = Starter(
                client,
                task_queue=settings.temporal_task_queue,
                gpu_task_queue=settings.temporal_gpu_task_queue,
                sticky_schedule_to_start_s=STICKY_S,
            )
            urls = [box.comfy_url for box in fleet]
            began = time.time()
            dropped = await drop_sessions(
                settings, starter, "a", sessions, extensions, audio_sessions
            )
            first, audio = dropped[:sessions], dropped[sessions:]
            (completed, failed), (audio_completed, audio_failed) = await asyncio.gather(
                outcomes(client, first), outcomes(client, audio)
            )
            wall = time.time() - began
            spans = [await executions(url) for url in urls]
            ratio, window = busy_ratio(spans)
            flat = [b - a for per in spans for a, b in per]
            spans_s = sum(per[-1][1] - per[0][0] for per in spans if per)
            figures: dict[str, Any] = {
                "workers": workers,
                "sessions": sessions,
                "segments_per_session": extensions + 1,
                "missing_preset": missing,
                "completed": completed,
                "failed": failed,
                "wall_s": round(wall, 2),
                "gpu_busy_ratio": round(ratio, 4),
                "busy_window_s": round(window, 2),
                "gpu_busy_ratio_each_span": round(sum(flat) / spans_s, 4) if spans_s else 0.0,
                "baseline_segment_s": round(sum(flat) / len(flat), 3) if flat else None,
                "sticky_hit_rate": round(await sticky_hit_rate(client, first), 4),
            }
            if audio_sessions:
                figures |= {
                    "audio_sessions": audio_sessions,
                    "separating_workers": separating,
                    "audio_completed": audio_completed,
                    "audio_failed": audio_failed,
                    "separated_where_able": await separated_where_able(client, audio, able),
                }
            if kill:
                victim = fleet[-1]
                before = sum(len(s) for s in spans)
                began_b = time.time()
                second = await drop_sessions(settings, starter, "b", sessions, extensions)
                third = sessions * (extensions + 1) // 3
                killer = asyncio.create_task(kill_after(stack, victim, urls, before + third))
                completed_b, failed_b = await outcomes(client, second)
                killed_at = killer.result() if killer.done() else None
                killer.cancel()
                figures |= {
                    "killed_run_completed": completed_b,
                    "killed_run_wall_s": round(time.time() - began_b, 2),
                    "killed_run_failed": failed_b,
                    "killed_worker_mid_run": killed_at is not None,
                    "killed_run_sticky_hit_rate": round(await sticky_hit_rate(client, second), 4),
                }
            return figures
        finally:
            await stack.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=12)
    parser.add_argument(
        "--missing-preset",
        action="append",
        default=[],
        metavar="PRESET:N",
        help="this preset's own model files are missing on N of the workers (repeatable)",
    )
    parser.add_argument("--step-delay", type=float, default=1.0, help="seconds per sampling step")
    parser.add_argument("--extensions", type=int, default=2, help="segments after the first")
    parser.add_argument(
        "--no-kill", action="store_true", help="skip the round with a worker killed"
    )
    parser.add_argument(
        "--audio-sessions", type=int, default=0, help="s2v sessions that separate vocals"
    )
    parser.add_argument(
        "--separating",
        type=int,
        default=0,
        metavar="N",
        help="the last N workers have a (stand-in) Demucs model; the others cannot separate",
    )
    args = parser.parse_args(argv)
    try:
        missing = parse_missing(args.missing_preset, args.workers)
    except ValueError as exc:
        parser.error(str(exc))
    if args.audio_sessions and not 0 < args.separating <= args.workers:
        parser.error(f"--audio-sessions needs --separating 1..{args.workers} (someone separates)")
    figures = asyncio.run(
        run_fleet(
            workers=args.workers,
            sessions=args.sessions,
            missing=missing,
            step_delay=args.step_delay,
            extensions=args.extensions,
            kill=not args.no_kill,
            audio_sessions=args.audio_sessions,
            separating=args.separating,
        )
    )
    for name, value in figures.items():
        print(f"{name:>28}: {value}")
    met = (
        figures["completed"] == args.sessions
        and figures["failed"] == 0
        and figures["gpu_busy_ratio"] >= 0.97
        and figures["sticky_hit_rate"] == 1.0
        and figures.get("killed_run_completed", args.sessions) == args.sessions
        and figures.get("audio_completed", 0) == args.audio_sessions
        and figures.get("separated_where_able", 1.0) == 1.0
    )
    print("targets (M/0, busy >= 0.97, sticky 1.0, M with a kill):", "met" if met else "MISSED")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
