"""Heartbeats on a timer, not only on progress: a 14B model load or a VAE decode can take
minutes without a progress message, and must not look like a dead worker.

Each beat carries the latest details (node, step) the activity reported; Temporal keeps
the last one, so ``pipeline status`` shows where a segment is. The same loop runs the
activity's ``on_tick`` (the GPU segment signals its session's progress there).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from temporalio import activity


class Heartbeat:
    def __init__(self, details: dict[str, Any]) -> None:
        self.details = details
        self.beaten_at = float("-inf")

    def update(self, **details: Any) -> None:
        """Change what the next beats carry, and beat now (the SDK throttles beats)."""
        self.details = {**self.details, **details}
        self._beat()

    def _beat(self) -> None:
        activity.heartbeat(self.details)
        self.beaten_at = time.monotonic()

    async def _beat_forever(
        self, interval_s: float, on_tick: Callable[[], Awaitable[None]] | None
    ) -> None:
        while True:
            if time.monotonic() - self.beaten_at >= interval_s:
                self._beat()
            if on_tick is not None:
                await on_tick()
            await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def heartbeating(
    interval_s: float,
    *,
    on_tick: Callable[[], Awaitable[None]] | None = None,
    **details: Any,
) -> AsyncIterator[Heartbeat]:
    """Heartbeat whenever ``interval_s`` seconds passed without one while the block runs;
    the loop wakes every ``interval_s`` and runs ``on_tick`` each time."""
    beat = Heartbeat(details)
    ticker = asyncio.create_task(beat._beat_forever(interval_s, on_tick))
    try:
        yield beat
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
