"""Real ComfyUI: per kind, a session's wall time against the time ComfyUI spent executing.

Starts a private embedded stack as ``pipeline up --comfyui-dir DIR`` runs it (that checkout,
on CPU without a GPU, tiny weights from ``--models-dir``, written there first if missing) and
drops one session per kind, one after another, at the manifest's smallest size: i2v with one
extension (2 prompts), s2v on 6 s of audio (one prompt of 2 chunks), InfiniteTalk on 5 s (2
windows, 2 prompts). For each session:

- ``wall_s``: the session workflow's start to close, from Temporal (``describe()``);
- ``comfy_s``: the baseline, the sum over its prompts of ``execution_start`` to the message
  that ended each, from ``/history``'s status timestamps (``HistoryEntry.execution_s``); the
  prompts are those ``/history`` gained while the session ran;
- ``overhead_s`` = wall - comfy: validation, separation, uploads, downloads, stitching,
  queueing and the pipeline's own waits; ``per_prompt_s``: overhead over the prompts.

The shipped graphs run as they are (no ``T5TokenizerOptions``), so a CPU text encode of 512
tokens counts as ComfyUI's time, not the pipeline's. The quality gate measures every segment
(its cost is overhead) under ``qc=report``: tiny random weights render noise, which it would
otherwise send back to be rendered again. Ends with one JSON line of the figures.

    .venv/bin/python -m bench.real_comfyui --comfyui-dir DIR [--comfyui-python PY]
        [--models-dir DIR] [--kind i2v --kind s2v --kind infinitetalk]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from pipeline.cli.sample import make_sample_image
from pipeline.comfy.capture.run import tone_wav
from pipeline.comfy.history import parse_history
from pipeline.config import Settings
from pipeline.domain.manifest import MIN_SIDE
from pipeline.stack.embedded import private_settings, settings_env, stack_config_for
from pipeline.stack.supervisor import Stack
from pipeline.temporal_client import connect
from pipeline.weights.tiny import tiny_specs, write_file

KINDS = ("i2v", "s2v", "infinitetalk")
AUDIO_S = {"s2v": 6.0, "infinitetalk": 5.0}
"""Seconds of audio per kind: two S2V chunks of 77 frames at 16 fps start by 4.8 s, and two
InfiniteTalk windows of 81 frames (9 shared) at 25 fps end by 6.1 s."""
FIELDS = {"i2v": ["extensions=1"], "s2v": [], "infinitetalk": []}
PROMPT = "a portrait of a person talking to the camera"
SESSION_LIMIT_S = 1800.0


@dataclass(frozen=True)
class KindFigures:
    session_id: str
    status: str
    prompts: int
    wall_s: float
    comfy_s: float

    @property
    def overhead_s(self) -> float:
        return self.wall_s - self.comfy_s

    def as_json(self) -> dict[str, Any]:
        per_prompt = self.overhead_s / self.prompts if self.prompts else None
        return {
            **asdict(self),
            "overhead_s": round(self.overhead_s, 2),
            "per_prompt_s": None if per_prompt is None else round(per_prompt, 2),
            "wall_over_comfy": round(self.wall_s / self.comfy_s, 3) if self.comfy_s else None,
        }


def models_dir(given: Path) -> Path:
    """``given``, with every tiny weight file written there that is not yet (about 8 s)."""
    for spec in tiny_specs():
        if not (given / spec.path).is_file():
            write_file(spec, given)
    return given


def media_for(kind: str, folder: Path) -> list[Path]:
    image = make_sample_image(folder / f"{kind}.png", MIN_SIDE, MIN_SIDE)
    if kind not in AUDIO_S:
        return [image]
    audio = folder / f"{kind}.wav"
    audio.write_bytes(tone_wav(AUDIO_S[kind]))
    return [image, audio]


def drop_and_wait(settings: Settings, kind: str, media: list[Path]) -> dict[str, Any]:
    """``pipeline drop … --wait --json`` as a user runs it; its final status."""
    fields = [f"prompt={PROMPT}", f"width={MIN_SIDE}", f"height={MIN_SIDE}", "qc=report"]
    fields += FIELDS[kind]
    argv = [sys.executable, "-m", "pipeline", "drop", *map(str, media), "--kind", kind]
    argv += ["--json", "--wait", "--timeout", str(SESSION_LIMIT_S)]
    argv += [f"--set={field}" for field in fields]
    done = subprocess.run(
        argv,
        env={**os.environ, **settings_env(settings)},
        capture_output=True,
        text=True,
        timeout=SESSION_LIMIT_S + 60,
        check=False,
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"pipeline drop failed ({done.returncode}): {done.stderr.strip()}")
    status: dict[str, Any] = json.loads(done.stdout)
    return status


async def history(http: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await http.get("/history")).json()
    return body


async def measure(settings: Settings, kind: str, folder: Path) -> KindFigures:
    async with httpx.AsyncClient(base_url=settings.comfy_url, timeout=60, trust_env=False) as http:
        before = set(await history(http))
        status = await asyncio.to_thread(drop_and_wait, settings, kind, media_for(kind, folder))
        after = await history(http)
    client = await connect(settings)
    described = await client.get_workflow_handle(status["workflow_id"]).describe()
    assert described.close_time is not None, "drop --wait returned before the session closed"
    seconds = []
    for prompt_id in sorted(set(after) - before):
        entry = parse_history(after, prompt_id)
        if entry is not None and entry.execution_s is not None:
            seconds.append(entry.execution_s)
    return KindFigures(
        session_id=status["session_id"],
        status=status["status"],
        prompts=len(seconds),
        wall_s=round((described.close_time - described.start_time).total_seconds(), 2),
        comfy_s=round(sum(seconds), 2),
    )


async def main(
    comfyui_dir: Path, comfyui_python: str | None, models: Path, kinds: list[str]
) -> dict[str, KindFigures]:
    with tempfile.TemporaryDirectory(prefix="bench-real-comfyui-") as state:
        overrides = {"COMFYUI_DIR": str(comfyui_dir), "COMFYUI_MODELS_DIR": str(models)}
        if comfyui_python:
            overrides["COMFYUI_PYTHON"] = comfyui_python
        settings = private_settings(Path(state), **overrides)
        stack = Stack(stack_config_for(settings))
        await stack.start()
        try:
            figures: dict[str, KindFigures] = {}
            for kind in kinds:
                figures[kind] = await measure(settings, kind, Path(state))
                print(f"{kind}: {figures[kind].as_json()}", flush=True)
            return figures
        finally:
            await stack.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comfyui-dir", type=Path, required=True)
    parser.add_argument("--comfyui-python")
    parser.add_argument(
        "--models-dir", type=Path, default=Path(".state/tiny-models"), help="tiny weights"
    )
    parser.add_argument("--kind", dest="kinds", action="append", choices=KINDS)
    arguments = parser.parse_args()
    kinds = arguments.kinds or list(KINDS)
    found = asyncio.run(
        main(
            arguments.comfyui_dir,
            arguments.comfyui_python,
            models_dir(arguments.models_dir),
            kinds,
        )
    )
    print(f"{'kind':<13} {'prompts':>7} {'wall s':>8} {'comfy s':>8} {'overhead s':>10} "
          f"{'per prompt s':>12} {'wall/comfy':>10}")  # fmt: skip
    for kind, figures in found.items():
        row = figures.as_json()
        print(
            f"{kind:<13} {row['prompts']:>7} {row['wall_s']:>8.1f} {row['comfy_s']:>8.1f} "
            f"{row['overhead_s']:>10.1f} {row['per_prompt_s'] or 0:>12.1f} "
            f"{row['wall_over_comfy'] or 0:>10.3f}"
        )
    failed = [kind for kind, figures in found.items() if figures.status != "succeeded"]
    print("every session succeeded:", "yes" if not failed else f"NO ({', '.join(failed)})")
    print(json.dumps({kind: figures.as_json() for kind, figures in found.items()}))
