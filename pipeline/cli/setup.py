"""``pipeline setup temporal`` and ``pipeline setup schedules``: what the pipeline needs on
the configured namespace, its search attributes and its own standing schedules (reconcile);
``pipeline setup bucket``: the bucket's lifecycle rules (RETENTION_*).

The operator's reprocessing schedules are ``pipeline schedule``'s (``pipeline.cli.schedule``).
"""

from __future__ import annotations

import asyncio
import json

import click

from pipeline.cli.context import App
from pipeline.config import Settings
from pipeline.domain.errors import StorageError
from pipeline.domain.retention import describe, lifecycle_rules
from pipeline.ingest.schedule import RECONCILE_SCHEDULE_ID, Applied, apply_reconcile_schedule
from pipeline.stack.temporal_setup import SearchAttributesRefused, ensure_search_attributes
from pipeline.storage import apply_lifecycle
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


@setup.command()
@click.pass_obj
def schedules(app: App) -> None:
    """Create or update the reconcile schedule (every RECONCILE_INTERVAL_S), without
    touching search attributes (for a namespace whose attributes are made elsewhere)."""

    async def run() -> Applied:
        return await apply_reconcile_schedule(await connect(app.settings), app.settings)

    outcome = asyncio.run(run())
    click.echo(
        f"{RECONCILE_SCHEDULE_ID}: {outcome.value} "
        f"(every {app.settings.reconcile_interval_s} s on {app.settings.temporal_task_queue})"
    )


LIFECYCLE_UNSUPPORTED_EXIT = 69
"""``EX_UNAVAILABLE`` (sysexits.h): the store offers no lifecycle configuration."""
_UNSUPPORTED = frozenset({"NotImplemented", "MethodNotAllowed", "501", "405"})


@setup.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def bucket(app: App, as_json: bool) -> None:
    """Apply the lifecycle rules RETENTION_* asks for to the bucket: created, updated or
    unchanged. Rules not named ``pipeline-*`` are kept as they are."""
    settings = app.settings
    wanted = lifecycle_rules(settings.retention)
    try:
        applied = apply_lifecycle(settings, wanted)
    except StorageError as exc:
        code = str(exc.detail.get("code"))
        if code in _UNSUPPORTED:
            click.echo(
                f"{settings.r2_bucket_name}: the store at {settings.s3_endpoint} does not "
                f"support lifecycle rules ({code}); nothing expires there",
                err=True,
            )
            raise SystemExit(LIFECYCLE_UNSUPPORTED_EXIT) from None
        raise click.ClickException(f"{settings.r2_bucket_name}: {exc}") from None
    if as_json:
        click.echo(json.dumps({"lifecycle": applied.value, "rules": wanted}))
        return
    click.echo(f"lifecycle of {settings.r2_bucket_name}: {applied.value}")
    for rule in wanted:
        click.echo(f"  {describe(rule)}")


COMMANDS = [setup]
