"""``pipeline setup temporal``: search attributes and schedules on the configured namespace."""

from __future__ import annotations

import asyncio
import json

import click

from pipeline.cli.context import App
from pipeline.config import Settings
from pipeline.ingest.schedule import RECONCILE_SCHEDULE_ID, apply_reconcile_schedule
from pipeline.stack.temporal_setup import SearchAttributesRefused, ensure_search_attributes
from pipeline.temporal_client import connect
from pipeline.workflows import attributes


@click.group()
def setup() -> None:
    """Prepare external services for the pipeline (idempotent)."""


async def _apply(settings: Settings) -> dict[str, dict[str, str]]:
    client = await connect(settings)
    found = await ensure_search_attributes(client, attributes.ALL)
    schedule = await apply_reconcile_schedule(client, settings)
    return {
        "search_attributes": found,
        "schedules": {RECONCILE_SCHEDULE_ID: schedule.value},
    }


@setup.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def temporal(app: App, as_json: bool) -> None:
    """Create the search attributes and the reconcile schedule on the configured namespace."""
    try:
        applied = asyncio.run(_apply(app.settings))
    except SearchAttributesRefused as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(applied))
        return
    for kind, outcomes in applied.items():
        for name, outcome in outcomes.items():
            click.echo(f"{kind.replace('_', ' ')[:-1]} {name}: {outcome}")


COMMANDS = [setup]
