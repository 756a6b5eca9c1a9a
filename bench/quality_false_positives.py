"""The quality gate's false positives: clean comfy-sim sessions it flags. Target: 0 of 50.

Starts a private embedded stack as ``pipeline up`` runs it (comfy-sim, no faults queued) and
drops ``--sessions`` clean sessions, a third each of i2v (two extensions), s2v and
InfiniteTalk (two windows) at 256x144, half of them from a still flat picture (a portrait
that does not move) and half from a structured one, all at once. Once every session has
ended, each ``result.json``'s quality reports are read: a false positive is a segment whose
first check failed. The baseline from the same run is the number of checks. Ends with one
JSON line.

    .venv/bin/python -m bench.quality_false_positives [--sessions 50]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import struct
import tempfile
import time
import wave
from collections import Counter
from pathlib import Path
from typing import Any

from PIL import Image
from temporalio.client import Client, WorkflowExecutionStatus

from pipeline.cli.sample import make_sample_image
from pipeline.config import Settings
from pipeline.domain.drop import DropRef
from pipeline.domain.layout import SessionLayout
from pipeline.domain.records import SessionRecord
from pipeline.stack.embedded import private_settings, stack_config_for
from pipeline.stack.supervisor import Stack
from pipeline.storage import sync_s3
from pipeline.temporal_client import connect

SIZE = {"width": 256, "height": 144}
KINDS: tuple[dict[str, Any], ...] = (
    {"kind": "i2v", "extensions": 2},
    {"kind": "s2v", "audio": "voice.wav"},
    {"kind": "infinitetalk", "audio": "voice.wav"},
)
AUDIO_S = 5.0
"""Two InfiniteTalk windows, two S2V chunks (``bench.real_comfyui``'s reasoning)."""
LIMIT_S = 1800.0


def pictures(folder: Path) -> tuple[bytes, bytes]:
    flat = io.BytesIO()
    Image.new("RGB", (SIZE["width"], SIZE["height"]), (120, 100, 90)).save(flat, "PNG")
    structured = make_sample_image(folder / "sunset.png", SIZE["width"], SIZE["height"])
    return flat.getvalue(), structured.read_bytes()


def voice(seconds: float = AUDIO_S, rate: int = 16000) -> bytes:
    """A 220 Hz tone with a slow tremolo: audio the stand-in separation keeps."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        samples = (
            int(
                12000
                * (0.6 + 0.4 * math.sin(t / rate * 5))
                * math.sin(t / rate * 2 * math.pi * 220)
            )
            for t in range(int(seconds * rate))
        )
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return buffer.getvalue()


def put_drops(settings: Settings, count: int, folder: Path) -> list[DropRef]:
    s3, bucket = sync_s3(settings), settings.r2_bucket_name
    flat, structured = pictures(folder)
    audio = voice()
    drops = []
    for index in range(count):
        fields = KINDS[index % len(KINDS)]
        name = f"clean-{index:03d}"
        s3.put_object(
            Bucket=bucket,
            Key=f"inbox/{name}/face.png",
            Body=flat if index % 2 else structured,
        )
        if "audio" in fields:
            s3.put_object(Bucket=bucket, Key=f"inbox/{name}/voice.wav", Body=audio)
        manifest = {"image": "face.png", **SIZE, **fields}
        key = f"inbox/{name}/manifest.json"
        etag = s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())["ETag"]
        drops.append(DropRef.of(bucket, key, etag))
    return drops


async def ended(client: Client, drop: DropRef) -> WorkflowExecutionStatus | None:
    deadline = time.monotonic() + LIMIT_S
    while time.monotonic() < deadline:
        try:
            status = (await client.get_workflow_handle(drop.workflow_id).describe()).status
        except Exception:  # not started yet
            status = None
        if status is not None and status is not WorkflowExecutionStatus.RUNNING:
            return status
        await asyncio.sleep(2)
    return None


async def main(sessions: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-qc-fp-") as state:
        settings = private_settings(Path(state), R2_BUCKET_NAME="bench-quality")
        stack = Stack(stack_config_for(settings))
        await stack.start()
        try:
            began = time.monotonic()
            drops = put_drops(settings, sessions, Path(state))
            client = await connect(settings)
            outcomes = await asyncio.gather(*(ended(client, drop) for drop in drops))
            wall_s = time.monotonic() - began
            s3 = sync_s3(settings)
            checks = flagged = 0
            measures: Counter[str] = Counter()
            for drop, outcome in zip(drops, outcomes, strict=True):
                if outcome is not WorkflowExecutionStatus.COMPLETED:
                    continue
                body = s3.get_object(
                    Bucket=settings.r2_bucket_name, Key=SessionLayout(drop.session_id).result
                )["Body"].read()
                for report in SessionRecord.model_validate_json(body).quality or []:
                    if report.attempt == 0:
                        checks += 1
                        flagged += not report.passed
                        measures.update(f.measure.value for f in report.failures)
            return {
                "sessions": sessions,
                "succeeded": sum(o is WorkflowExecutionStatus.COMPLETED for o in outcomes),
                "checks": checks,
                "false_positives": flagged,
                "rate": flagged / checks if checks else None,
                "by_measure": dict(measures),
                "wall_time_s": round(wall_s, 1),
            }
        finally:
            await stack.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    options = parser.parse_args()
    figures = asyncio.run(main(options.sessions))
    for name, value in figures.items():
        print(f"{name:>16}: {value}")
    met = figures["false_positives"] == 0 and figures["succeeded"] == figures["sessions"]
    print("target (every session succeeded, 0 flagged):", "met" if met else "MISSED")
    print(json.dumps({"bench": "quality_false_positives", "met": met, **figures}))
