"""What tests of every tier share: waiting for a condition, a worker on a queue of its own,
counting a workflow's runs, putting a drop into the bucket, and test media (PNG and WAV bytes,
audio files of several tracks made with ffmpeg).

After temporalio/sdk-python's ``tests/helpers/__init__.py`` (``new_worker``,
``assert_eventually``). What one area alone needs stays in that area's support module
(``tests/integration/*_support.py``); no test module imports another
(``tests/unit/test_test_imports.py``).
"""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import math
import struct
import uuid
import wave
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import ffmpeg
from PIL import Image
from temporalio.client import Client
from temporalio.worker import Worker

from pipeline.config import Settings
from pipeline.domain.drop import DropRef
from pipeline.storage import sync_s3


async def eventually(
    check: Callable[[], Awaitable[object] | object],
    within_s: float = 20.0,
    *,
    every_s: float = 0.05,
    explain: Callable[[], str] | None = None,
) -> None:
    """Call ``check`` (sync or async) every ``every_s`` until it returns something truthy.

    Fails the test with ``AssertionError`` after ``within_s`` seconds; the message ends
    with ``explain()`` when given (what the system under test said, e.g. a process's output).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        outcome = check()
        if await outcome if inspect.isawaitable(outcome) else outcome:
            return
        if loop.time() >= deadline:
            detail = f":\n{explain()}" if explain else ""
            raise AssertionError(f"condition not met in {within_s} s: {check}{detail}")
        await asyncio.sleep(every_s)


def fresh_queue(prefix: str) -> str:
    """A task queue name no other test uses: ``{prefix}-{8 hex digits}``."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_worker(
    client: Client,
    *workflows: type,
    activities: Sequence[Callable[..., Any]] = (),
    task_queue: str | None = None,
    **options: Any,
) -> Worker:
    """A ``Worker`` for ``workflows`` and ``activities`` on ``task_queue``, by default a fresh
    queue (read it back from ``worker.task_queue``); ``options`` go to ``Worker``."""
    return Worker(
        client,
        task_queue=task_queue or fresh_queue("test"),
        workflows=list(workflows),
        activities=list(activities),
        **options,
    )


async def executions(client: Client, workflow_id: str) -> int:
    """How many runs of ``workflow_id`` the server's visibility lists (it lags a little)."""
    return len([w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")])


def put_drop(
    settings: Settings,
    name: str,
    manifest: dict[str, Any],
    media: dict[str, bytes],
    *,
    manifest_puts: int = 1,
) -> DropRef:
    """Upload ``media`` (file name → bytes) to ``inbox/{name}/``, then its ``manifest.json``
    ``manifest_puts`` times, as a client would; the drop of the last manifest put."""
    s3, bucket = sync_s3(settings), settings.r2_bucket_name
    for file_name, body in media.items():
        s3.put_object(Bucket=bucket, Key=f"inbox/{name}/{file_name}", Body=body)
    key = f"inbox/{name}/manifest.json"
    etag = ""
    for _ in range(manifest_puts):
        etag = s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())["ETag"]
    return DropRef.of(bucket, key, etag)


def png_bytes(image: Image.Image) -> bytes:
    """``image`` encoded as PNG."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png(width: int = 256, height: int = 160, colour: tuple[int, int, int] = (40, 90, 200)) -> bytes:
    """A ``width`` by ``height`` picture of one ``colour`` (RGB), as PNG bytes; by default
    above the 64-pixel side ``pipeline/media/image.py`` requires of a drop's image."""
    return png_bytes(Image.new("RGB", (width, height), colour))


def wav(seconds: float = 1.0, rate: int = 16000, hz: float = 440.0) -> bytes:
    """``seconds`` of a sine tone of ``hz`` at ``rate`` samples/s, mono 16-bit PCM, as WAV."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        samples = (
            int(8000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(int(seconds * rate))
        )
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return buffer.getvalue()


SPEECH_LIKE = "0.4*sin(2*PI*220*t)*(0.6+0.4*sin(2*PI*3*t))"
"""A 220 Hz tone whose loudness swells three times a second, as syllables do (peak -8 dBFS)."""


def audio_tracks(
    path: Path, tracks: Sequence[str | None], *, default: int | None, seconds: float = 1.0
) -> Path:
    """A file at ``path`` (the container from its extension) with one audio track per entry of
    ``tracks``: an ``aevalsrc`` expression, or ``None`` for digital silence. Track ``default``
    (from 0) alone carries the container's default disposition; with ``None`` none does."""
    streams = [
        ffmpeg.input(f"aevalsrc={expression or 0}:s=48000:d={seconds}:c=mono", f="lavfi").audio
        for expression in tracks
    ]
    dispositions = {
        f"disposition:a:{n}": "default" if n == default else "0" for n in range(len(tracks))
    }
    ffmpeg.output(*streams, str(path), acodec="aac", **dispositions).overwrite_output().run(
        quiet=True
    )
    return path
