"""``pipeline schedule …``: Temporal Schedules that rerun a reprocess selection (ids
``reprocess-{NAME}``), made, listed, paused, triggered, backfilled and deleted.

A cron counts in UTC unless ``--timezone`` (or the line's ``CRON_TZ=``) names a zone;
``ls`` and ``describe`` show the zone, and ``create`` warns about cron times a clock
change of that zone skips or repeats in the coming year (``schedule_spec``).

The pipeline's own standing schedules (reconcile) are ``pipeline setup``'s.

Exit codes: 0 done; 2 bad input; 3 no such schedule.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click
from temporalio.client import (
    Client,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleOverlapPolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from pipeline.cli.context import App, NotFound
from pipeline.cli.params import DURATION, MOMENT
from pipeline.cli.reprocess import build_request, selection_options
from pipeline.cli.schedule_spec import (
    TIME_ZONE,
    UTC_NAME,
    cron_of,
    dst_warnings,
    schedule_zone,
    time_zone,
)
from pipeline.reprocess import batch_schedule
from pipeline.temporal_client import connect
from pipeline.workflows.reprocess import BATCH_WORKFLOW_PREFIX


@click.group()
def schedule() -> None:
    """Temporal Schedules that run reprocessing batches (ids reprocess-{NAME}).

    The pipeline's own schedule (reconcile) is applied by 'pipeline setup schedules'.
    """


OVERLAP = {policy.name.lower(): policy for policy in ScheduleOverlapPolicy if policy.value}


@schedule.command()
@click.argument("name")
@selection_options
@click.option(
    "--cron", default=None, help='e.g. "0 2 * * *": every night at 02:00 (UTC, or --timezone).'
)
@click.option(
    "--timezone",
    "zone",
    type=TIME_ZONE,
    default=None,
    help="The IANA zone --cron counts in, e.g. Europe/Berlin (default UTC, or CRON_TZ=).",
)
@click.option("--every", type=DURATION, default=None, help="Or an interval: 30m, 6h, 1d.")
@click.option(
    "--overlap",
    type=click.Choice(sorted(OVERLAP)),
    default="skip",
    show_default=True,
    help="A batch still running when the next is due: skip the next, buffer it, …",
)
@click.option(
    "--catchup-window",
    type=DURATION,
    default="1h",
    show_default=True,
    help="Runs missed while the cluster was down are still taken within this.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object, warnings included.")
@click.pass_obj
def create(
    app: App,
    /,
    name: str,
    cron: str | None,
    zone: str | None,
    every: timedelta | None,
    overlap: str,
    catchup_window: timedelta,
    as_json: bool,
    **chosen: Any,
) -> None:
    """Create (or replace) schedule NAME, e.g. every night at 02:00 Berlin time, rerun the
    sessions that failed with a retryable error in the last 24 h:

    \b
      pipeline schedule create nightly --cron "0 2 * * *" \\
          --timezone Europe/Berlin --retryable --within 24h

    Cron times that a clock change of the zone skips or repeats in the coming year are
    warned about (stderr; with --json, the object's "warnings").
    """
    if (cron is None) == (every is None):
        raise click.UsageError("give exactly one of --cron and --every")
    zone = schedule_zone(cron, zone)
    request = build_request(app.settings, "", **chosen)
    built = batch_schedule(
        app.settings,
        name,
        request,
        cron=cron,
        every=every,
        overlap=OVERLAP[overlap],
        catchup_window=catchup_window,
        time_zone=zone,
    )
    schedule_id = BATCH_WORKFLOW_PREFIX + name

    async def run() -> tuple[str, str, list[str]]:
        client = await connect(app.settings)
        outcome = "created"
        try:
            await client.create_schedule(schedule_id, built)
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(schedule_id).delete()
            await client.create_schedule(schedule_id, built)
            outcome = "replaced"
        spec = (await client.get_schedule_handle(schedule_id).describe()).schedule.spec
        zone_name = spec.time_zone_name or UTC_NAME
        return outcome, zone_name, await dst_warnings(client, schedule_id, spec)

    outcome, zone_name, warnings = _rpc(lambda: asyncio.run(run()))
    if as_json:
        made = {"schedule": schedule_id, "outcome": outcome, "time_zone": zone_name}
        click.echo(json.dumps({**made, "warnings": warnings}))
        return
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{schedule_id}: {outcome} ({zone_name})")


@schedule.command(name="ls")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_schedules(app: App, as_json: bool) -> None:
    """List the reprocessing schedules."""

    async def run() -> list[dict[str, Any]]:
        client = await connect(app.settings)
        rows = []
        async for listed in await client.list_schedules():
            if not listed.id.startswith(BATCH_WORKFLOW_PREFIX):
                continue
            info, state = listed.info, listed.schedule.state if listed.schedule else None
            spec = listed.schedule.spec if listed.schedule else None
            rows.append(
                {
                    "name": listed.id.removeprefix(BATCH_WORKFLOW_PREFIX),
                    "paused": bool(state and state.paused),
                    "note": state.note if state else None,
                    "time_zone": (spec and spec.time_zone_name) or UTC_NAME,
                    "next": [t.isoformat() for t in (info.next_action_times if info else [])][:1],
                }
            )
        return rows

    rows = asyncio.run(run())
    if as_json:
        click.echo(json.dumps({"schedules": rows}))
        return
    for row in rows:
        upcoming = [_local(datetime.fromisoformat(t), row["time_zone"]) for t in row["next"]]
        state = "paused" if row["paused"] else f"next {upcoming[0] if upcoming else '-'}"
        click.echo(f"{row['name']:<24} {state:<36} {row['time_zone']:<20} {row['note'] or ''}")


def _local(at: datetime, zone: str) -> str:
    """``at`` as the schedule's wall clock (UTC where this machine lacks the zone)."""
    try:
        return at.astimezone(time_zone(zone)).isoformat()
    except ValueError:
        return at.astimezone(UTC).isoformat()


@schedule.command(name="describe", help="Show schedule NAME: spec, state, recent and next runs.")
@click.argument("name")
@click.pass_obj
def describe_schedule(app: App, name: str) -> None:
    async def run() -> dict[str, Any]:
        client = await connect(app.settings)
        described = await _handle(client, name).describe()
        state, info = described.schedule.state, described.info
        spec = described.schedule.spec
        return {
            "name": name,
            "cron": [*spec.cron_expressions, *map(cron_of, spec.calendars)],
            "time_zone": spec.time_zone_name or UTC_NAME,
            "every_s": [i.every.total_seconds() for i in spec.intervals],
            "overlap": described.schedule.policy.overlap.name.lower(),
            "catchup_window_s": described.schedule.policy.catchup_window.total_seconds(),
            "paused": state.paused,
            "note": state.note,
            "runs": info.num_actions,
            "recent": [
                {
                    "scheduled_at": action.scheduled_at.isoformat(),
                    "workflow_id": getattr(action.action, "workflow_id", None),
                }
                for action in info.recent_actions
            ],
            "next": [t.isoformat() for t in info.next_action_times],
        }

    click.echo(json.dumps(_rpc(lambda: asyncio.run(run())), indent=2))


@schedule.command(name="pause", help="Pause schedule NAME (running batches go on).")
@click.argument("name")
@click.option("--note", default="paused with pipeline schedule pause")
@click.pass_obj
def pause(app: App, name: str, note: str) -> None:
    _act(app, name, lambda handle: handle.pause(note=note), "paused")


@schedule.command(name="resume", help="Resume schedule NAME.")
@click.argument("name")
@click.pass_obj
def resume(app: App, name: str) -> None:
    _act(app, name, lambda handle: handle.unpause(note="resumed"), "resumed")


@schedule.command(name="trigger", help="Start a batch of schedule NAME now.")
@click.argument("name")
@click.pass_obj
def trigger(app: App, name: str) -> None:
    _act(app, name, lambda handle: handle.trigger(), "triggered")


@schedule.command(
    name="backfill", help="Run schedule NAME as if the time from START to END passed now."
)
@click.argument("name")
@click.option("--start", "start_at", type=MOMENT, required=True, help="ISO date/time, or 7d (ago).")
@click.option("--end", "end_at", type=MOMENT, default=None, help="ISO date/time; default now.")
@click.pass_obj
def backfill(app: App, name: str, start_at: datetime, end_at: datetime | None) -> None:
    end = end_at or datetime.now(UTC)
    window = ScheduleBackfill(
        start_at=start_at, end_at=end, overlap=ScheduleOverlapPolicy.ALLOW_ALL
    )
    _act(app, name, lambda handle: handle.backfill(window), "backfilled")


@schedule.command(name="delete", help="Delete schedule NAME (batches it started go on).")
@click.argument("name")
@click.pass_obj
def delete(app: App, name: str) -> None:
    _act(app, name, lambda handle: handle.delete(), "deleted")


def _handle(client: Client, name: str) -> Any:
    return client.get_schedule_handle(BATCH_WORKFLOW_PREFIX + name)


def _act(app: App, name: str, action: Callable[[Any], Any], done: str) -> None:
    async def run() -> None:
        await action(_handle(await connect(app.settings), name))

    _rpc(lambda: asyncio.run(run()))
    click.echo(f"{BATCH_WORKFLOW_PREFIX}{name}: {done}")


R = TypeVar("R")


def _rpc(call: Callable[[], R]) -> R:
    """An unknown schedule exits ``NOT_FOUND`` with one line; other Temporal errors are
    ``pipeline``'s own one-line errors."""
    try:
        return call()
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise
    raise NotFound("no such schedule")


COMMANDS = [schedule]
