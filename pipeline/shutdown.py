"""Graceful shutdown of long-running processes: SIGINT and SIGTERM set an ``asyncio.Event``.

Workers, the ingest consumer, the stack supervisor and comfy-sim all run until told to stop,
then finish what they hold (a worker drains its activities, the supervisor stops its process
groups). Ctrl-C and ``kill`` (systemd, Kubernetes, ``pipeline down``) mean the same: stop.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """Inside the block, a stop signal sets the yielded event instead of ending the process.

    Must be entered from a coroutine (the running loop takes the handlers); the default
    handlers are back when the block exits.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """``asyncio.run(main(stop))``, where a stop signal sets ``stop``."""

    async def runner() -> None:
        with stop_on_signals() as stop:
            await main(stop)

    asyncio.run(runner())
