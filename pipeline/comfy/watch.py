"""Following one prompt over the ComfyUI WebSocket, turning messages into ``Progress``.

The socket only speeds things up: ``ComfyClient.run`` trusts ``/history`` for the outcome.
A dropped or silent socket is closed and reopened under the same clientId (ComfyUI routes
by clientId, so a new socket picks up where the old one stopped); meanwhile /history
polling carries the run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from pipeline.comfy.messages import (
    TERMINAL,
    Executing,
    ExecutionCached,
    Message,
    NodeProgress,
    parse_text,
)
from pipeline.domain.errors import MessageError
from pipeline.logging import get_logger

log = get_logger()

MAX_FRAME_BYTES = 64 * 1024 * 1024
"""Previews of large videos can exceed websockets' 1 MiB default."""


@dataclass(frozen=True)
class Progress:
    """Where a run is: the node working now and how many of the run's nodes are done."""

    node: str
    class_type: str
    value: float
    max: float
    nodes_done: int
    nodes_total: int


OnProgress = Callable[[Progress], Awaitable[None]]


class PromptWatch:
    """One run's WebSocket: open it before submitting, then ``follow`` the prompt id."""

    def __init__(
        self,
        ws_url: str,
        graph: dict[str, Any],
        *,
        on_progress: OnProgress | None,
        silence_timeout: float,
        reconnect_delay: float,
    ) -> None:
        self._url = ws_url
        self._graph = graph
        self._on_progress = on_progress
        self._silence = silence_timeout
        self._reconnect_delay = reconnect_delay
        self._ws: ClientConnection | None = None
        self._cached: set[str] = set()
        self._started: list[str] = []
        self.terminal: Message | None = None
        """The message that ended the prompt, if the socket saw it."""

    async def open(self) -> bool:
        """Connect; False (logged) if the socket cannot be opened now."""
        try:
            self._ws = await connect(
                self._url, max_size=MAX_FRAME_BYTES, open_timeout=10, close_timeout=2
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            log.warning("comfy_ws_connect_failed", url=self._url, error=repr(exc))
            self._ws = None
            return False
        return True

    async def close(self) -> None:
        if self._ws is not None:
            ws, self._ws = self._ws, None
            await ws.close()

    async def follow(self, prompt_id: str) -> None:
        """Return once the socket reports ``prompt_id`` finished; reconnect if it drops."""
        while True:
            if self._ws is None:
                await asyncio.sleep(self._reconnect_delay)
                if not await self.open() or self._ws is None:
                    continue
            ws = self._ws
            if await self._consume(ws, prompt_id):
                return
            # No closing handshake: a silent peer would not answer it.
            self._ws = None
            ws.transport.abort()

    async def _consume(self, ws: ClientConnection, prompt_id: str) -> bool:
        """True when the prompt finished; False when the socket dropped or went silent."""
        while True:
            try:
                async with asyncio.timeout(self._silence):
                    frame = await ws.recv()
            except TimeoutError:
                log.warning("comfy_ws_silent", prompt_id=prompt_id, seconds=self._silence)
                return False
            except ConnectionClosed:
                log.warning("comfy_ws_closed", prompt_id=prompt_id)
                return False
            if isinstance(frame, bytes):
                continue  # Previews: nothing in a run's outcome depends on them.
            try:
                message = parse_text(frame)
            except MessageError as exc:
                log.warning("comfy_ws_bad_frame", error=str(exc))
                continue
            if getattr(message, "prompt_id", None) != prompt_id:
                continue  # Broadcasts and other clients' prompts.
            if await self._handle(message):
                return True

    async def _handle(self, message: Message) -> bool:
        if isinstance(message, TERMINAL):
            self.terminal = message
            return True
        if isinstance(message, Executing):
            if message.node is None:
                return True
            if message.node not in self._started:
                self._started.append(message.node)
            await self._report(message.node, 0.0, 1.0)
        elif isinstance(message, ExecutionCached):
            self._cached.update(message.nodes)
        elif isinstance(message, NodeProgress) and message.node is not None:
            await self._report(message.node, message.value, message.max)
        return False

    async def _report(self, node: str, value: float, maximum: float) -> None:
        if self._on_progress is None:
            return
        total = len(self._graph.keys() - self._cached)
        # Nodes run one at a time, so every node that started before this one is done.
        done = self._started.index(node) if node in self._started else len(self._started)
        class_type = str(self._graph.get(node, {}).get("class_type", ""))
        await self._on_progress(Progress(node, class_type, value, maximum, done, total))


async def stop(task: asyncio.Task[None]) -> None:
    """End a ``follow`` task without raising: its outcome was read already or no longer matters."""
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    elif not task.cancelled():
        task.exception()  # Marks it retrieved, so asyncio does not log it as lost.
