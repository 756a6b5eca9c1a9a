"""``pipeline setup temporal``: make a Temporal namespace ready for the pipeline."""

from __future__ import annotations

import asyncio

import click

from pipeline.cli.context import App
from pipeline.ingest.schedule import RECONCILE_SCHEDULE_ID, Applied, apply_reconcile_schedule
from pipeline.temporal_client import connect, ensure_search_attributes
from pipeline.workflows import attributes


@click.group()
def setup() -> None:
    """One-time set-up of a real cluster (the embedded stack does it by itself)."""


@setup.command()
@click.option("--no-schedule", is_flag=True, help="Only register the search attributes.")
@click.pass_obj
def temporal(app: App, no_schedule: bool) -> None:
    """Register the pipeline's search attributes on TEMPORAL_NAMESPACE and create or update
    the reconcile schedule. Idempotent: run it on every deploy."""

    async def run() -> tuple[list[str], Applied | None]:
        client = await connect(app.settings)
        added = await ensure_search_attributes(client, attributes.ALL)
        applied = None if no_schedule else await apply_reconcile_schedule(client, app.settings)
        return added, applied

    added, applied = asyncio.run(run())
    namespace = app.settings.temporal_namespace
    if added:
        click.echo(f"search attributes added to {namespace}: {', '.join(added)}")
    else:
        click.echo(f"search attributes: all {len(attributes.ALL)} present in {namespace}")
    if applied is not None:
        click.echo(f"{RECONCILE_SCHEDULE_ID}: {applied.value}")


COMMANDS = [setup]
