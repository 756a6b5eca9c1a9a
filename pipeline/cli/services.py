"""Long-running processes: ``pipeline worker cpu|gpu`` and ``pipeline ingest``."""

from __future__ import annotations

import asyncio

import click

from pipeline.cli.context import App
from pipeline.config import EVENT_SOURCES, Settings
from pipeline.ingest.schedule import apply_reconcile_schedule, trigger_reconcile
from pipeline.ingest.source import build_source, missing_settings
from pipeline.ingest.starter import Starter, session_options
from pipeline.logging import get_logger
from pipeline.shutdown import run_until_signalled
from pipeline.storage import ObjectStore
from pipeline.temporal_client import connect
from pipeline.worker.run import Role, run_worker

log = get_logger()


@click.command()
@click.argument("role", type=click.Choice([r.value for r in Role]))
@click.pass_obj
def worker(app: App, role: str) -> None:
    """Run a worker: cpu (workflows, media) or gpu (owns COMFYUI_URL)."""
    run_until_signalled(lambda stop: run_worker(Role(role), app.settings, stop))


async def run_ingest(
    settings: Settings, stop: asyncio.Event, *, source: str, apply_schedule: bool = False
) -> None:
    client = await connect(settings)
    async with ObjectStore(settings) as store:
        starter = Starter(client, inbox=store, **session_options(settings))
        if apply_schedule:
            applied = await apply_reconcile_schedule(client, settings)
            log.info("reconcile_schedule_applied", outcome=applied.value)

        async def reconcile_now() -> None:
            """Every start of the source (and of its stream) runs a reconcile pass at once."""
            if await trigger_reconcile(client):
                log.info("reconcile_triggered", source=source)
            else:
                log.warning("reconcile_schedule_missing", fix="pipeline ingest --apply-schedule")

        if source == "seaweedfs":
            consumer = build_source(settings, starter, source, on_stream_start=reconcile_now)
        else:
            consumer = build_source(settings, starter, source)
            await reconcile_now()
        await consumer.run(stop)


@click.command()
@click.option(
    "--source",
    type=click.Choice(EVENT_SOURCES),
    default=None,
    help="Event source; default EVENT_SOURCE (seaweedfs).",
)
@click.option(
    "--apply-schedule", is_flag=True, help="First create or update the reconcile schedule."
)
@click.pass_obj
def ingest(app: App, source: str | None, apply_schedule: bool) -> None:
    """Consume bucket events (SeaweedFS's filer stream, S3 → SQS, R2 → Cloudflare Queue, or
    webhook POSTs) and start one session per drop."""
    chosen = source or app.settings.event_source
    missing = missing_settings(app.settings, chosen)
    if missing:
        raise click.ClickException(f"the {chosen} event source needs {', '.join(missing)}")
    run_until_signalled(
        lambda stop: run_ingest(app.settings, stop, source=chosen, apply_schedule=apply_schedule)
    )


COMMANDS = [worker, ingest]
