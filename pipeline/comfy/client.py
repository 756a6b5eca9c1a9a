"""Async client for one ComfyUI server: upload, submit, run to completion, download.

``run`` opens the WebSocket before submitting (so no message of the prompt is missed),
races it against slow polling of the server's own state, and polls quickly once the socket
says the prompt ended. ``/history`` is the source of truth: outcome and outputs are always
read from it. Liveness is the server's word, not the socket's: every ``poll_interval`` the
prompt is looked up in ``/history`` and then ``/queue``; running or pending, the run waits
however long the socket stays silent (see ``pipeline.comfy.watch``); in neither, it is
lost (``WorkerUnavailable``); a server that does not answer HTTP is ``WorkerUnavailable``
too. Every failure is a ``pipeline.domain.errors`` class; no state outlives a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiofiles
import httpx

from pipeline.comfy.history import HistoryEntry, OutputFile, failure_error, parse_history
from pipeline.comfy.multipart import MultipartStream
from pipeline.comfy.rejection import describe_rejection
from pipeline.comfy.system import ServerInfo
from pipeline.comfy.watch import PING_S, OnProgress, OnQueued, PromptWatch, Queued, stop
from pipeline.domain.errors import (
    ComfyError,
    ComfyTimeout,
    GraphError,
    MessageError,
    WorkerUnavailable,
)

UPLOAD_CHUNK = 1024 * 1024
_FIRST_POLL = 0.05
"""Delay before re-reading /history once the socket reported the end (history may lag)."""


@dataclass(frozen=True)
class RunResult:
    prompt_id: str
    outputs: list[OutputFile]
    execution_s: float | None = None
    """ComfyUI's own time on the prompt (``HistoryEntry.execution_s``); None if unrecorded."""


class ComfyClient:
    """One ComfyUI server. Use as ``async with ComfyClient(url) as comfy: ...``."""

    def __init__(
        self,
        base_url: str,
        *,
        http: httpx.AsyncClient | None = None,
        client_id: str | None = None,
        ws_base_url: str | None = None,
        poll_interval: float = 5.0,
        ws_ping_s: float = PING_S,
    ) -> None:
        """``ws_base_url`` reaches the WebSocket through another host (a proxy); default
        ``base_url``. ``poll_interval``: seconds between looks at ``/history`` and ``/queue``
        while a prompt runs (and between attempts to reopen a closed socket). ``ws_ping_s``:
        the socket's keepalive ping interval and pong timeout.
        """
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id or uuid.uuid4().hex
        # http → ws, https → wss.
        self._ws_base = re.sub(r"^http", "ws", (ws_base_url or self.base_url).rstrip("/"))
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))
        self._poll = poll_interval
        self._ping = ws_ping_s

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, self.base_url + path, **kwargs)
        except httpx.TransportError as exc:
            raise WorkerUnavailable(
                f"ComfyUI at {self.base_url} is unreachable: {exc!r}", detail={"path": path}
            ) from exc
        if response.status_code >= 500:
            raise ComfyError(
                f"ComfyUI answered {method} {path} with {response.status_code}: "
                f"{response.text[:200]}",
                detail={"path": path, "status": response.status_code},
            )
        return response

    async def object_info(self) -> dict[str, Any]:
        """Every node class the server has, with its inputs (``GET /object_info``)."""
        body = (await self._request("GET", "/object_info")).json()
        if not isinstance(body, dict):
            raise ComfyError("GET /object_info did not return an object")
        return body

    async def server_info(self) -> ServerInfo:
        """The server's version and devices (``GET /system_stats``): a cheap liveness check."""
        body = (await self._request("GET", "/system_stats")).json()
        try:
            return ServerInfo.parse(body if isinstance(body, dict) else {})
        except ValueError as exc:
            raise ComfyError(f"GET /system_stats: {exc}") from None

    async def upload(
        self,
        name: str,
        data: bytes | AsyncIterable[bytes] | Path,
        *,
        subfolder: str = "",
        overwrite: bool = True,
    ) -> str:
        """Upload to ComfyUI's input folder; returns the name ``LoadImage`` must be given."""
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise ValueError(f"upload name {name!r} must be a plain file name")
        fields = {"subfolder": subfolder, "type": "input", "overwrite": str(overwrite).lower()}
        form = MultipartStream(
            fields,
            file_field="image",
            filename=name,
            content_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
            chunks=_chunks(data),
        )
        response = await self._request(
            "POST", "/upload/image", content=form, headers={"content-type": form.content_type}
        )
        if response.status_code != 200:
            raise ComfyError(
                f"uploading {name!r} failed with {response.status_code}",
                detail={"status": response.status_code},
            )
        stored = response.json()
        stored_name, stored_sub = stored.get("name"), stored.get("subfolder") or ""
        if not isinstance(stored_name, str) or not isinstance(stored_sub, str):
            raise ComfyError(f"upload of {name!r} answered without a file name: {stored!r}")
        return f"{stored_sub}/{stored_name}" if stored_sub else stored_name

    async def submit(self, graph: dict[str, Any], *, client_id: str | None = None) -> str:
        """Queue ``graph``; returns its prompt id. ``GraphError`` if ComfyUI rejects any node."""
        body = {"prompt": graph, "client_id": client_id or self.client_id}
        response = await self._request("POST", "/prompt", json=body)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code != 200 or not isinstance(answer, dict):
            raise GraphError(
                describe_rejection(answer, response.text),
                detail={"status": response.status_code, "response": answer},
            )
        prompt_id = answer.get("prompt_id")
        if not isinstance(prompt_id, str):
            raise ComfyError(f"POST /prompt answered without a prompt id: {answer!r}")
        if answer.get("node_errors"):
            # ComfyUI still runs the valid outputs; a graph missing any output is wrong.
            await self.interrupt(prompt_id)
            raise GraphError(
                describe_rejection(answer, response.text),
                detail={"status": response.status_code, "response": answer},
            )
        return prompt_id

    async def history(self, prompt_id: str) -> HistoryEntry | None:
        """The prompt's record, or None while it is queued or running."""
        response = await self._request("GET", f"/history/{prompt_id}")
        try:
            return parse_history(response.json(), prompt_id)
        except (ValueError, MessageError) as exc:
            raise ComfyError(f"unreadable /history record for {prompt_id}: {exc}") from exc

    async def queue_place(self, prompt_id: str) -> int | None:
        """Where the prompt is in ``GET /queue``: 0 running, n >= 1 the n-th pending prompt to
        run, None in neither.

        Items are ``[number, prompt_id, ...]``; ComfyUI runs the pending item with the
        lowest number next (a heap on the item, ComfyUI 0.33.0 execution.py ``PromptQueue``).
        """
        queue = (await self._request("GET", "/queue")).json()
        if not isinstance(queue, dict):
            raise ComfyError(f"GET /queue did not return an object: {queue!r}")
        running = [i for i in queue.get("queue_running", []) if isinstance(i, list)]
        pending = [i for i in queue.get("queue_pending", []) if isinstance(i, list)]
        if any(item[1:2] == [prompt_id] for item in running):
            return 0
        ours = [item for item in pending if item[1:2] == [prompt_id]]
        if not ours:
            return None
        number = ours[0][0]
        return 1 + sum(
            1 for item in pending if isinstance(item[0], int | float) and item[0] < number
        )

    async def run(
        self,
        graph: dict[str, Any],
        *,
        on_progress: OnProgress | None = None,
        on_queued: OnQueued | None = None,
        timeout: float,  # noqa: ASYNC109 - on expiry the prompt is interrupted too.
    ) -> RunResult:
        """Submit ``graph`` and wait for it; its output files, or the pipeline error for why not.

        ``on_progress`` gets every node start and ProgressBar update the socket reports;
        ``on_queued`` the prompt's place each time a poll finds it pending at a new one
        (never once a node started).

        On timeout the prompt is interrupted and ``ComfyTimeout`` raised; cancelled, the
        prompt is interrupted and ``CancelledError`` re-raised.
        """
        prompt_id: str | None = None
        deadline = asyncio.timeout(timeout)
        run_id = f"{self.client_id}-{uuid.uuid4().hex[:8]}"
        watch = PromptWatch(
            f"{self._ws_base}/ws?clientId={run_id}",
            graph,
            on_progress=on_progress,
            ping_s=self._ping,
            reconnect_delay=self._poll,
        )
        try:
            async with deadline:
                await watch.open()
                prompt_id = await self.submit(graph, client_id=run_id)
                entry = await self._wait(prompt_id, watch, on_queued)
        except asyncio.CancelledError:
            # The caller gave up (the session was cancelled): stop the GPU instead of
            # finishing a render nobody will read. Shielded, so the interrupt goes out.
            if prompt_id is not None:
                with contextlib.suppress(ComfyError):
                    await asyncio.shield(self.interrupt(prompt_id))
            raise
        except TimeoutError:
            if not deadline.expired():
                raise
            if prompt_id is not None:
                with contextlib.suppress(ComfyError):
                    await self.interrupt(prompt_id)
            raise ComfyTimeout(
                f"ComfyUI prompt {prompt_id} did not finish within {timeout:g}s",
                detail={"prompt_id": prompt_id, "timeout_s": timeout},
            ) from None
        finally:
            await watch.close()
        if entry.succeeded:
            return RunResult(prompt_id, entry.output_files(), entry.execution_s)
        raise failure_error(entry, watch.terminal)

    async def _wait(
        self, prompt_id: str, watch: PromptWatch, on_queued: OnQueued | None
    ) -> HistoryEntry:
        follow = asyncio.create_task(watch.follow(prompt_id))
        delay = _FIRST_POLL
        position: int | None = None
        try:
            while True:
                if not follow.done():
                    await asyncio.wait({follow}, timeout=self._poll)
                if follow.done():
                    follow.result()  # An on_progress error ends the run here.
                entry = await self.history(prompt_id)
                if entry is not None:
                    return entry
                place = await self.queue_place(prompt_id)
                if place is None:
                    # ComfyUI moves a prompt from the queue to history in one step, so a
                    # prompt in neither place is lost.
                    entry = await self.history(prompt_id)
                    if entry is not None:
                        return entry
                    raise WorkerUnavailable(
                        f"prompt {prompt_id} left the queue without a history record "
                        "(ComfyUI restarted or the prompt was deleted)",
                        detail={"prompt_id": prompt_id},
                    )
                if place and place != position and not watch.started and on_queued:
                    position = place
                    await on_queued(Queued(place))
                if follow.done():
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._poll)
        finally:
            await stop(follow)

    async def download(self, output: OutputFile) -> AsyncIterator[bytes]:
        """Stream an output file's bytes from ``GET /view``."""
        params = {"filename": output.filename, "subfolder": output.subfolder, "type": output.type}
        try:
            async with self._http.stream("GET", f"{self.base_url}/view", params=params) as resp:
                if resp.status_code != 200:
                    raise ComfyError(
                        f"GET /view of {output.subfolder}/{output.filename} answered "
                        f"{resp.status_code}",
                        detail={"status": resp.status_code, "filename": output.filename},
                    )
                async for chunk in resp.aiter_bytes():
                    yield chunk
        except httpx.TransportError as exc:
            raise WorkerUnavailable(f"downloading {output.filename} failed: {exc!r}") from exc

    async def interrupt(self, prompt_id: str | None = None) -> None:
        """Stop ``prompt_id`` whether pending or running; without an id, whatever runs now."""
        if prompt_id is None:
            await self._request("POST", "/interrupt")
            return
        await self._request("POST", "/queue", json={"delete": [prompt_id]})
        await self._request("POST", "/interrupt", json={"prompt_id": prompt_id})

    async def free(self) -> None:
        """Unload models and free GPU memory."""
        await self._request("POST", "/free", json={"unload_models": True, "free_memory": True})


async def _chunks(data: bytes | AsyncIterable[bytes] | Path) -> AsyncIterator[bytes]:
    if isinstance(data, bytes):
        yield data
    elif isinstance(data, Path):
        async with aiofiles.open(data, "rb") as file:
            while chunk := await file.read(UPLOAD_CHUNK):
                yield chunk
    else:
        async for chunk in data:
            yield chunk
