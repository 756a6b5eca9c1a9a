"""What a capture writes down: WebSocket frames as they arrive and HTTP exchanges.

A ``Transcript`` holds one socket open from before a prompt is posted until ComfyUI says the
prompt is over (``executing`` with ``node`` null for its id, the last message of every
outcome: ComfyUI 0.33.0 ``execution.py``), keeping every frame with its arrival time. An
``exchange`` is one request and the server's answer, in the layout comfy-sim's data uses
(``docs/comfyui-capture.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from pipeline.domain.errors import ComfyTimeout, WorkerUnavailable

MAX_FRAME_BYTES = 64 * 1024 * 1024
"""Previews of large videos can exceed websockets' 1 MiB default."""
TERMINAL = ("execution_success", "execution_error", "execution_interrupted")
"""The messages that say how a prompt ended (ComfyUI 0.33.0 ``execution.py``)."""


def binary_frame(data: bytes) -> dict[str, Any]:
    """A binary frame as the 0.3.64 contract capture stored them: its length, first 8
    bytes in hex, and the two big-endian u32 that head it (the event type, 1 = preview
    image, 4 = preview with metadata; then the image format or the metadata length:
    ComfyUI ``server.py`` ``send_bytes``)."""
    return {
        "len": len(data),
        "first8_hex": data[:8].hex(),
        "event_type_u32be": int.from_bytes(data[:4], "big") if len(data) >= 4 else None,
        "second_u32be": int.from_bytes(data[4:8], "big") if len(data) >= 8 else None,
    }


class Transcript:
    """One client's WebSocket, every frame kept as ``{"t": s since connect, "type", "data"}``
    (binary frames: ``type`` ``binary``, ``data`` from ``binary_frame``)."""

    def __init__(self, ws_url: str) -> None:
        self.ws_url = ws_url
        self.frames: list[dict[str, Any]] = []
        self._socket: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()
        self._start = 0.0

    async def open(self) -> None:
        """Connect; ``WorkerUnavailable`` if the socket cannot be opened."""
        try:
            self._socket = await connect(self.ws_url, max_size=MAX_FRAME_BYTES)
        except (OSError, WebSocketException) as exc:
            raise WorkerUnavailable(f"cannot open {self.ws_url}: {exc!r}") from exc
        self._start = time.monotonic()
        self._reader = asyncio.create_task(self._read(self._socket))

    async def _read(self, socket: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in socket:
                t = round(time.monotonic() - self._start, 3)
                if isinstance(message, bytes):
                    self.frames.append({"t": t, "type": "binary", "data": binary_frame(message)})
                else:
                    self.frames.append({"t": t, **json.loads(message)})
                self._arrived.set()
        self._arrived.set()

    def end(self, prompt_id: str) -> dict[str, Any] | None:
        """The last ``TERMINAL`` frame for ``prompt_id`` once ``executing`` null has come,
        ``{}`` if it came without one; ``None`` while the prompt is not over."""
        terminal: dict[str, Any] = {}
        for frame in self.frames:
            data = frame.get("data")
            if not isinstance(data, dict) or data.get("prompt_id") != prompt_id:
                continue
            if frame["type"] in TERMINAL:
                terminal = frame
            elif frame["type"] == "executing" and data.get("node") is None:
                return terminal
        return None

    async def wait(self, prompt_id: str, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
        """Until ``end(prompt_id)``; ``ComfyTimeout`` after ``timeout`` s, ``WorkerUnavailable``
        if the socket closes first."""
        try:
            async with asyncio.timeout(timeout):
                while (found := self.end(prompt_id)) is None:
                    if self._reader is None or self._reader.done():
                        raise WorkerUnavailable(
                            f"the WebSocket closed before prompt {prompt_id} ended"
                        )
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise ComfyTimeout(f"prompt {prompt_id} did not end within {timeout:g} s") from None
        return found

    async def close(self) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None:
            await self._reader


def body_of(response: httpx.Response) -> Any:
    """The answer's body: parsed JSON, ``None`` when empty, else its text."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


async def exchange(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    form: dict[str, str] | None = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> dict[str, Any]:
    """Send one request; ``{"request": {"method", "path", "json"?, "form"?}, "status",
    "body"}`` (``form``: the multipart fields, each file by its file name). Only an
    unreachable server raises (``WorkerUnavailable``); any status is recorded."""
    request: dict[str, Any] = {"method": method, "path": path}
    if json_body is not None:
        request["json"] = json_body
    if files is not None:
        request["form"] = {**(form or {}), **{k: name for k, (name, _, _) in files.items()}}
    try:
        response = await http.request(
            method, path, json=json_body, data=form if files is not None else None, files=files
        )
    except httpx.TransportError as exc:
        where = str(http.base_url).rstrip("/")
        raise WorkerUnavailable(
            f"ComfyUI at {where} is unreachable ({method} {path}: {exc!r})", detail={"path": path}
        ) from exc
    return {"request": request, "status": response.status_code, "body": body_of(response)}
