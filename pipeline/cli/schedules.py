"""``pipeline schedules apply``: the reconcile schedule, created or brought up to date."""

from __future__ import annotations

import asyncio

import click

from pipeline.cli.context import App
from pipeline.ingest.schedule import RECONCILE_SCHEDULE_ID, Applied, apply_reconcile_schedule
from pipeline.temporal_client import connect


@click.group()
def schedules() -> None:
    """Temporal Schedules the pipeline relies on."""


@schedules.command()
@click.pass_obj
def apply(app: App) -> None:
    """Create or update the reconcile schedule (every RECONCILE_INTERVAL_S). Idempotent."""

    async def run() -> Applied:
        return await apply_reconcile_schedule(await connect(app.settings), app.settings)

    outcome = asyncio.run(run())
    click.echo(
        f"{RECONCILE_SCHEDULE_ID}: {outcome.value} "
        f"(every {app.settings.reconcile_interval_s} s on {app.settings.temporal_task_queue})"
    )


COMMANDS = [schedules]
