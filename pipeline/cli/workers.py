"""``pipeline workers``: the live GPU workers, the presets each serves (the queues it polls)
and, for every preset it cannot serve, the node classes and model files its ComfyUI lacks."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import click

from pipeline.cli.context import App
from pipeline.config import Settings
from pipeline.fleet.registry import LiveWorker, live_workers
from pipeline.storage import ObjectStore
from pipeline.temporal_client import connect


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
    if not record.ready:
        seen += ", ComfyUI not answering"
    serving = "; ".join(
        f"{kind}: {', '.join(presets)}" for kind, presets in sorted(record.serving.items())
    )
    lines = [
        f"{record.identity}  {record.comfyui.describe()} at {record.comfyui_url}  ({seen})",
        f"    serves {serving or 'nothing'}",
        f"    vocal separation: {record.separation}",
    ]
    for preset, missing in sorted(record.missing.items()):
        lines.append(f"    cannot run {preset}: missing {missing.describe()}")
    return "\n".join(lines)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
@click.pass_obj
def workers(app: App, as_json: bool) -> None:
    """List live GPU workers, the presets each serves and what each lacks for the others."""
    found = asyncio.run(_fetch(app.settings))
    if as_json:
        click.echo(json.dumps([w.model_dump(mode="json") for w in found], indent=2))
        return
    if not found:
        click.echo(f"no live GPU worker on task queues {app.settings.temporal_gpu_task_queue}.*")
        return
    now = datetime.now(UTC)
    for worker in found:
        click.echo(_line(worker, now))


COMMANDS = [workers]
