"""Following one prompt over the ComfyUI WebSocket, turning messages into ``Progress``.

The socket only speeds things up: ``ComfyClient.run`` trusts ``/history`` for the outcome
and asks the server itself (``/history``, ``/queue``) whether the prompt still runs.
Silence on the socket is normal: ComfyUI 0.33.0 sends nothing while a node works without a
ProgressBar (a CPU text encode: 57-122 s; a 14B model load from a network disk: as long),
so there is no idle timer. The socket is reopened, under the same clientId, only when it
closed: the peer closed it, the connection broke, or the server stopped answering the
keepalive pings (websockets sends one every ``ping_s`` seconds and closes the socket when
no pong comes within ``ping_s``; aiohttp, ComfyUI's server, answers them from its event
loop while the prompt runs in the executor thread). ComfyUI routes by clientId and re-sends
the running node's ``executing`` (without ``prompt_id``) to a socket that comes back, so a
new socket picks up where the old one stopped (ComfyUI 0.33.0 server.py,
``websocket_handler``).
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
PING_S = 20.0
"""Keepalive ping interval and pong timeout, s: websockets' own default for both."""


@dataclass(frozen=True)
class Progress:
    """Where a run is: the node working now and how many of the run's nodes are done."""

    node: str
    class_type: str
    value: float
    max: float
    nodes_done: int
    nodes_total: int


@dataclass(frozen=True)
class Queued:
    """The prompt waits in ComfyUI's queue; ``position`` 1 runs next (from ``GET /queue``)."""

    position: int


Event = Progress | Queued
OnProgress = Callable[[Progress], Awaitable[None]]
OnQueued = Callable[[Queued], Awaitable[None]]


class NodeTrail:
    """One prompt's messages, in order, turned into ``Progress`` (pure: no socket, no clock).

    ``executing`` reports its node at ``0/1``, ``progress`` the node's ProgressBar; every
    node that started before the current one is done (ComfyUI runs one node at a time), and
    nodes ``execution_cached`` names are not counted in the total.
    """

    def __init__(self, prompt_id: str, graph: dict[str, Any]) -> None:
        self.prompt_id = prompt_id
        self._graph = graph
        self._cached: set[str] = set()
        self._started: list[str] = []
        self.terminal: Message | None = None
        """The message that ended the prompt, if one was seen."""
        self.finished = False

    @property
    def started(self) -> bool:
        """Whether any node of the prompt has started executing."""
        return bool(self._started)

    def feed(self, message: Message) -> Progress | None:
        """The progress ``message`` reports, if it is this prompt's and says where it is.

        ``executing`` without ``prompt_id`` is what ComfyUI re-sends to a reconnected socket
        for the running node; the socket's clientId is this run's alone, so it is ours.
        """
        prompt_id = getattr(message, "prompt_id", None)
        if prompt_id != self.prompt_id and not (
            isinstance(message, Executing) and prompt_id is None and message.node is not None
        ):
            return None  # Broadcasts and other clients' prompts.
        if isinstance(message, TERMINAL):
            self.terminal, self.finished = message, True
        elif isinstance(message, Executing):
            if message.node is None:
                self.finished = True
                return None
            if message.node not in self._started:
                self._started.append(message.node)
            return self._progress(message.node, 0.0, 1.0)
        elif isinstance(message, ExecutionCached):
            self._cached.update(message.nodes)
        elif isinstance(message, NodeProgress) and message.node is not None:
            return self._progress(message.node, message.value, message.max)
        return None

    def _progress(self, node: str, value: float, maximum: float) -> Progress:
        total = len(self._graph.keys() - self._cached)
        done = self._started.index(node) if node in self._started else len(self._started)
        class_type = str(self._graph.get(node, {}).get("class_type", ""))
        return Progress(node, class_type, value, maximum, done, total)


class PromptWatch:
    """One run's WebSocket: open it before submitting, then ``follow`` the prompt id."""

    def __init__(
        self,
        ws_url: str,
        graph: dict[str, Any],
        *,
        on_progress: OnProgress | None,
        ping_s: float,
        reconnect_delay: float,
    ) -> None:
        self._url = ws_url
        self._graph = graph
        self._on_progress = on_progress
        self._ping = ping_s
        self._reconnect_delay = reconnect_delay
        self._ws: ClientConnection | None = None
        self.trail: NodeTrail | None = None
        """Set by ``follow``: what the socket saw of the prompt."""

    async def open(self) -> bool:
        """Connect; False (logged) if the socket cannot be opened now."""
        try:
            self._ws = await connect(
                self._url,
                max_size=MAX_FRAME_BYTES,
                open_timeout=10,
                close_timeout=2,
                ping_interval=self._ping,
                ping_timeout=self._ping,
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            log.warning("comfy_ws_connect_failed", url=self._url, error=repr(exc))
            self._ws = None
            return False
        log.info("comfy_ws_opened", url=self._url)
        return True

    async def close(self) -> None:
        if self._ws is not None:
            ws, self._ws = self._ws, None
            await ws.close()

    @property
    def terminal(self) -> Message | None:
        """The message that ended the prompt, if the socket saw it."""
        return self.trail.terminal if self.trail is not None else None

    @property
    def started(self) -> bool:
        """Whether the socket saw a node of the prompt start."""
        return self.trail is not None and self.trail.started

    async def follow(self, prompt_id: str) -> None:
        """Return once the socket reports ``prompt_id`` finished; reopen it when it closes."""
        self.trail = trail = NodeTrail(prompt_id, self._graph)
        while True:
            if self._ws is None:
                await asyncio.sleep(self._reconnect_delay)
                if not await self.open() or self._ws is None:
                    continue
            ws = self._ws
            if await self._consume(ws, trail):
                return
            self._ws = None

    async def _consume(self, ws: ClientConnection, trail: NodeTrail) -> bool:
        """True when the prompt finished; False when the socket closed."""
        while True:
            try:
                frame = await ws.recv()
            except ConnectionClosed as exc:
                log.warning("comfy_ws_closed", prompt_id=trail.prompt_id, reason=str(exc))
                return False
            if isinstance(frame, bytes):
                continue  # Previews: nothing in a run's outcome depends on them.
            try:
                message = parse_text(frame)
            except MessageError as exc:
                log.warning("comfy_ws_bad_frame", error=str(exc))
                continue
            progress = trail.feed(message)
            if progress is not None and self._on_progress is not None:
                await self._on_progress(progress)
            if trail.finished:
                return True


async def stop(task: asyncio.Task[None]) -> None:
    """End a ``follow`` task without raising: its outcome was read already or no longer matters."""
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    elif not task.cancelled():
        task.exception()  # Marks it retrieved, so asyncio does not log it as lost.
