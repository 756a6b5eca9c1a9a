"""Heartbeats on a timer, not only on progress: a 14B model load or a VAE decode can take
minutes without a progress message, and must not look like a dead worker.

Each beat carries the latest details (node, step) the activity reported; Temporal keeps
the last one, so ``pipeline status`` shows where a segment is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from temporalio import activity


class Heartbeat:
    def __init__(self, details: dict[str, Any]) -> None:
        self.details = details

    def update(self, **details: Any) -> None:
        """Change what the next beats carry, and beat now (the SDK throttles beats)."""
        self.details = {**self.details, **details}
        activity.heartbeat(self.details)

    async def _beat_forever(self, interval_s: float) -> None:
        while True:
            activity.heartbeat(self.details)
            await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def heartbeating(interval_s: float, **details: Any) -> AsyncIterator[Heartbeat]:
    """Heartbeat every ``interval_s`` seconds while the block runs."""
    beat = Heartbeat(details)
    ticker = asyncio.create_task(beat._beat_forever(interval_s))
    try:
        yield beat
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
