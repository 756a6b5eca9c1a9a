"""``pipeline workers``: the live GPU workers and the kinds and presets each can serve."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import click

from pipeline.cli.context import App
from pipeline.config import Settings
from pipeline.storage import ObjectStore
from pipeline.temporal_client import connect
from pipeline.worker.registry import LiveWorker, live_workers


async def _fetch(settings: Settings) -> list[LiveWorker]:
    client = await connect(settings)
    async with ObjectStore(settings) as store:
        return await live_workers(client, store, settings.temporal_gpu_task_queue)


def _line(worker: LiveWorker, now: datetime) -> str:
    record = worker.record
    if worker.last_poll is not None:
        seen = f"polled {max(0, int((now - worker.last_poll).total_seconds()))}s ago"
    else:
        seen = "busy, not polling"
    serving = "; ".join(
        f"{kind}: {', '.join(presets)}" for kind, presets in sorted(record.serving.items())
    )
    return (
        f"{record.identity}  {record.comfyui_url}  ({seen})\n    {serving or 'nothing'}"
        f"\n    vocal separation: {record.separation}"
    )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
@click.pass_obj
def workers(app: App, as_json: bool) -> None:
    """List live GPU workers and the kinds and presets each can serve."""
    found = asyncio.run(_fetch(app.settings))
    if as_json:
        click.echo(json.dumps([w.model_dump(mode="json") for w in found], indent=2))
        return
    if not found:
        click.echo(f"no live GPU worker on task queue {app.settings.temporal_gpu_task_queue!r}")
        return
    now = datetime.now(UTC)
    for worker in found:
        click.echo(_line(worker, now))


COMMANDS = [workers]
