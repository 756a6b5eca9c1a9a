"""The ``/ws`` endpoint and message fan-out, as ComfyUI's ``PromptServer`` does it.

``send`` only queues; one publisher task delivers in queue order, so a transcript's order is
the order things happened in. ``sid=None`` broadcasts to every socket; a sid with no socket
is dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

SERVER_FEATURES = {"supports_preview_metadata": True, "max_upload_size": 104857600}
PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4


class Hub:
    def __init__(self, on_connect: Callable[[str], None]) -> None:
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._transports: dict[str, asyncio.Transport] = {}
        self._flags: dict[str, dict[str, Any]] = {}
        self._outbox: asyncio.Queue[tuple[str | bytes, str | None]] = asyncio.Queue()
        self._on_connect = on_connect
        """Called after the initial ``status`` (ComfyUI re-sends ``executing`` on reconnect)."""

    def send(self, event: str, data: Any, sid: str | None = None) -> None:
        self._outbox.put_nowait((json.dumps({"type": event, "data": data}), sid))

    def send_binary(self, event: int, payload: bytes, sid: str | None = None) -> None:
        self._outbox.put_nowait((struct.pack(">I", event) + payload, sid))

    def supports(self, sid: str | None, feature: str) -> bool:
        return sid is not None and self._flags.get(sid, {}).get(feature) is True

    async def publish_forever(self) -> None:
        while True:
            message, sid = await self._outbox.get()
            if sid is None:
                targets = list(self._sockets.values())
            else:
                targets = [self._sockets[sid]] if sid in self._sockets else []
            for ws in targets:
                await self._deliver(ws, message)

    @staticmethod
    async def _deliver(ws: web.WebSocketResponse, message: str | bytes) -> None:
        try:
            if isinstance(message, bytes):
                await ws.send_bytes(message)
            else:
                await ws.send_str(message)
        except (ConnectionError, RuntimeError) as ex:
            # A client that went away must not stop delivery to the others.
            log.debug("dropping message for a closed socket: %s", ex)

    def drop(self, sid: str | None) -> None:
        """Cut ``sid``'s socket without a closing handshake, as a broken network would."""
        transport = self._transports.get(sid) if sid is not None else None
        if transport is not None:
            transport.abort()

    async def close_all(self) -> None:
        for ws in list(self._sockets.values()):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.close(code=1001, message=b"server shutdown")

    async def handle(self, request: web.Request, status: dict[str, Any]) -> web.WebSocketResponse:
        """Serve one ``/ws?clientId=`` connection until it closes."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.rel_url.query.get("clientId", "") or uuid.uuid4().hex
        self._sockets[sid] = ws
        self._flags[sid] = {}
        if request.transport is not None:
            self._transports[sid] = request.transport
        try:
            # Sent directly, not queued: the real server does the same.
            hello = {"type": "status", "data": {"status": status, "sid": sid}}
            await ws.send_str(json.dumps(hello))
            self._on_connect(sid)
            first = True
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                with contextlib.suppress(ValueError, AttributeError):
                    data = json.loads(msg.data)
                    if first and data.get("type") == "feature_flags":
                        self._flags[sid] = dict(data.get("data") or {})
                        self.send("feature_flags", SERVER_FEATURES, sid)
                first = False
        finally:
            if self._sockets.get(sid) is ws:
                del self._sockets[sid]
                self._flags.pop(sid, None)
                self._transports.pop(sid, None)
        return ws
