"""Long-running processes: ``pipeline worker cpu|gpu`` and ``pipeline ingest``."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import click

from pipeline.cli.app import App
from pipeline.config import Settings
from pipeline.ingest.sqs import SqsConsumer
from pipeline.ingest.starter import Starter
from pipeline.temporal_client import connect
from pipeline.worker import Role, run_worker


def until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` until SIGINT or SIGTERM sets ``stop``."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


@click.command()
@click.argument("role", type=click.Choice([r.value for r in Role]))
@click.pass_obj
def worker(app: App, role: str) -> None:
    """Run a worker: cpu (workflows, media) or gpu (owns COMFYUI_URL)."""
    until_signalled(lambda stop: run_worker(Role(role), app.settings, stop))


async def run_ingest(settings: Settings, stop: asyncio.Event) -> None:
    client = await connect(settings)
    starter = Starter(
        client,
        task_queue=settings.temporal_task_queue,
        gpu_task_queue=settings.temporal_gpu_task_queue,
    )
    await SqsConsumer(settings, starter).run(stop)


@click.command()
@click.pass_obj
def ingest(app: App) -> None:
    """Consume bucket events (S3 → SQS) and start one session per drop."""
    until_signalled(lambda stop: run_ingest(app.settings, stop))


COMMANDS = [worker, ingest]
