"""``pipeline reprocess`` and ``pipeline schedule …``: rerun sessions now or on a schedule.

Exit codes: 0 done (every rerun succeeded with ``--wait``); 1 some reruns failed; 2 bad input.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click
from temporalio.client import (
    Client,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    ScheduleRange,
)
from temporalio.service import RPCError, RPCStatusCode

from pipeline.cli.context import App, NotFound
from pipeline.cli.follow import bar
from pipeline.cli.sessions import parse_since
from pipeline.cli.upload import parse_assignments
from pipeline.config import Settings
from pipeline.domain.contracts import BatchCounts, ReprocessRequest, Selection
from pipeline.reprocess import (
    batch_schedule,
    describe_batch,
    new_batch_id,
    select,
    start_batch,
)
from pipeline.storage import ObjectStore
from pipeline.temporal_client import connect
from pipeline.workflows.reprocess import BATCH_WORKFLOW_PREFIX, ReprocessWorkflow

F = TypeVar("F", bound=Callable[..., Any])
POLL_S = 1.0
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, option: str) -> timedelta:
    """``90s``, ``30m``, ``24h``, ``7d``, ``2w``."""
    unit = text[-1:]
    if unit not in _DURATION_UNITS or not text[:-1].isdigit():
        raise click.BadParameter(f"{text!r}: use 90s, 30m, 24h, 7d or 2w", param_hint=option)
    return timedelta(seconds=int(text[:-1]) * _DURATION_UNITS[unit])


def selection_options(fn: F) -> F:
    """The filters ``reprocess`` and ``schedule create`` share."""
    options = [
        click.option(
            "--status", type=click.Choice(["succeeded", "failed", "cancelled"]), default=None
        ),
        click.option("--error-code", "error_codes", multiple=True, help="Failed with this code."),
        click.option("--retryable", is_flag=True, help="Failed with a retryable error."),
        click.option("--kind", default=None),
        click.option("--preset", default=None),
        click.option("--since", default=None, help="Started since: 24h, 7d or an ISO date."),
        click.option("--until", default=None, help="Started before: an ISO date or 1h (ago)."),
        click.option("--within", default=None, help="Started in the last 24h, 7d… of each run."),
        click.option("--key-prefix", default=None, help="Drop manifest keys under this."),
        click.option("--limit", type=int, default=10_000, show_default=True),
        click.option(
            "--set",
            "assignments",
            multiple=True,
            metavar="KEY=VALUE",
            help="Change a manifest field for the reruns, e.g. --set steps=6.",
        ),
        click.option("--concurrency", type=int, default=4, show_default=True),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def build_request(settings: Settings, batch_id: str, **chosen: Any) -> ReprocessRequest:
    within = chosen["within"]
    selection = Selection(
        status=chosen["status"],
        error_codes=tuple(chosen["error_codes"]),
        retryable_only=chosen["retryable"],
        kind=chosen["kind"],
        preset=chosen["preset"],
        since=parse_since(chosen["since"]),
        until=parse_since(chosen["until"]),
        within_s=int(parse_duration(within, "--within").total_seconds()) if within else None,
        key_prefix=chosen["key_prefix"],
        limit=chosen["limit"],
    )
    return ReprocessRequest(
        batch_id=batch_id,
        selection=selection,
        overrides=parse_assignments(list(chosen["assignments"])),
        concurrency=chosen["concurrency"],
        gpu_task_queue=settings.temporal_gpu_task_queue,
    )


@click.command()
@selection_options
@click.option("--dry-run", is_flag=True, help="List what would rerun; start nothing.")
@click.option("--wait", is_flag=True, help="Follow the batch with a progress bar to its end.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def reprocess(app: App, /, dry_run: bool, wait: bool, as_json: bool, **chosen: Any) -> None:
    """Rerun the sessions the filters select, as one batch: each rerun writes a new
    generations/{run}/ beside the old ones, at a lower priority than fresh drops."""
    request = build_request(app.settings, new_batch_id(), **chosen)
    if dry_run:
        _dry_run(app.settings, request, as_json)
        return

    async def run() -> tuple[str, BatchCounts | None]:
        client = await connect(app.settings)
        handle = await start_batch(client, app.settings, request)
        if not wait:
            return handle.id, None
        return handle.id, await follow_batch(client, handle.id, quiet=as_json)

    workflow_id, counts = asyncio.run(run())
    if as_json:
        shown = counts.model_dump() if counts else {}
        click.echo(json.dumps({"batch_id": request.batch_id, "workflow_id": workflow_id, **shown}))
    else:
        click.echo(
            f"batch {request.batch_id}: {describe_batch(request.selection, request.overrides)}"
        )
        if counts is not None:
            click.echo(_counts_line(counts))
    if counts is not None and counts.failed:
        sys.exit(1)


def _dry_run(settings: Settings, request: ReprocessRequest, as_json: bool) -> None:
    async def run() -> Any:
        async with ObjectStore(settings) as store:
            return await select(await connect(settings), store, request.selection)

    selected = asyncio.run(run())
    if as_json:
        click.echo(json.dumps({"dry_run": True, **selected.model_dump(mode="json")}))
        return
    for session_id in selected.session_ids:
        click.echo(session_id)
    click.echo(
        f"{len(selected.session_ids)} would rerun, {len(selected.skipped)} skipped "
        f"(from {' and '.join(selected.sources)})",
        err=True,
    )


async def follow_batch(client: Client, workflow_id: str, *, quiet: bool) -> BatchCounts:
    """Poll the batch's counts (across continue-as-new) until it ends."""
    handle = client.get_workflow_handle(workflow_id, result_type=BatchCounts)
    last = ""
    while True:
        description = await handle.describe()
        state = description.status.name if description.status is not None else "RUNNING"
        if state not in ("RUNNING", "CONTINUED_AS_NEW"):
            counts: BatchCounts = await handle.result()
            return counts
        try:
            counts = await handle.query(ReprocessWorkflow.counts)
        except RPCError:
            await asyncio.sleep(POLL_S)
            continue
        line = (
            f"{bar(counts.finished, counts.selected)} {counts.finished}/{counts.selected} "
            f"· {counts.running} running · {counts.failed} failed"
        )
        if not quiet and line != last:
            click.echo(line, err=True)
            last = line
        await asyncio.sleep(POLL_S)


def _counts_line(counts: BatchCounts) -> str:
    return (
        f"{counts.selected} selected · {counts.done} done · {counts.failed} failed · "
        f"{counts.skipped} skipped · at most {counts.peak_running} at once"
    )


@click.group()
def schedule() -> None:
    """Temporal Schedules that run reprocessing batches (ids reprocess-{NAME})."""


OVERLAP = {policy.name.lower(): policy for policy in ScheduleOverlapPolicy if policy.value}


@schedule.command()
@click.argument("name")
@selection_options
@click.option("--cron", default=None, help='e.g. "0 2 * * *": every night at 02:00 UTC.')
@click.option("--every", default=None, help="Or an interval: 30m, 6h, 1d.")
@click.option(
    "--overlap",
    type=click.Choice(sorted(OVERLAP)),
    default="skip",
    show_default=True,
    help="A batch still running when the next is due: skip the next, buffer it, …",
)
@click.option(
    "--catchup-window",
    default="1h",
    show_default=True,
    help="Runs missed while the cluster was down are still taken within this.",
)
@click.pass_obj
def create(
    app: App,
    /,
    name: str,
    cron: str | None,
    every: str | None,
    overlap: str,
    catchup_window: str,
    **chosen: Any,
) -> None:
    """Create (or replace) schedule NAME, e.g. every night at 02:00, rerun the sessions
    that failed with a retryable error in the last 24 h:

      pipeline schedule create nightly --cron "0 2 * * *" --retryable --within 24h
    """
    if (cron is None) == (every is None):
        raise click.UsageError("give exactly one of --cron and --every")
    request = build_request(app.settings, "", **chosen)
    built = batch_schedule(
        app.settings,
        name,
        request,
        cron=cron,
        every=parse_duration(every, "--every") if every else None,
        overlap=OVERLAP[overlap],
        catchup_window=parse_duration(catchup_window, "--catchup-window"),
    )

    async def run() -> str:
        client = await connect(app.settings)
        try:
            await client.create_schedule(BATCH_WORKFLOW_PREFIX + name, built)
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(BATCH_WORKFLOW_PREFIX + name).delete()
            await client.create_schedule(BATCH_WORKFLOW_PREFIX + name, built)
            return "replaced"
        return "created"

    click.echo(f"{BATCH_WORKFLOW_PREFIX}{name}: {_rpc(lambda: asyncio.run(run()))}")


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
            rows.append(
                {
                    "name": listed.id.removeprefix(BATCH_WORKFLOW_PREFIX),
                    "paused": bool(state and state.paused),
                    "note": state.note if state else None,
                    "next": [t.isoformat() for t in (info.next_action_times if info else [])][:1],
                }
            )
        return rows

    rows = asyncio.run(run())
    if as_json:
        click.echo(json.dumps({"schedules": rows}))
        return
    for row in rows:
        state = "paused" if row["paused"] else f"next {row['next'][0] if row['next'] else '-'}"
        click.echo(f"{row['name']:<24} {state:<36} {row['note'] or ''}")


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


_CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day_of_month", 1, 31),
    ("month", 1, 12),
    ("day_of_week", 0, 6),
)
"""A cron line's five fields: the calendar's attribute and the range ``*`` stands for."""


def cron_of(calendar: ScheduleCalendarSpec) -> str:
    """A calendar as the cron line it came from: Temporal keeps ``--cron "0 2 * * *"`` as
    structured ranges (``hour=2``, ``minute=0``, ...), so ``describe`` writes them back.
    Seconds other than 0 lead the line (six fields), as Temporal's own cron accepts."""
    fields = [_cron_field(getattr(calendar, name), low, high) for name, low, high in _CRON_FIELDS]
    seconds = _cron_field(calendar.second, 0, 59)
    return " ".join(fields if seconds == "0" else [seconds, *fields])


def _cron_field(ranges: Sequence[ScheduleRange], low: int, high: int) -> str:
    parts = []
    for each in ranges or [ScheduleRange(low, high)]:
        end, step = max(each.end, each.start), max(each.step, 1)
        every = f"/{step}" if step > 1 else ""
        if (each.start, end) == (low, high):
            parts.append(f"*{every}")
        elif end == each.start:
            parts.append(str(each.start))
        else:
            parts.append(f"{each.start}-{end}{every}")
    return ",".join(parts)


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
@click.option("--start", "start_at", required=True, help="ISO date/time, or 7d (ago).")
@click.option("--end", "end_at", default=None, help="ISO date/time; default now.")
@click.pass_obj
def backfill(app: App, name: str, start_at: str, end_at: str | None) -> None:
    start = parse_since(start_at) or datetime.now(UTC)
    end = parse_since(end_at) or datetime.now(UTC)
    window = ScheduleBackfill(start_at=start, end_at=end, overlap=ScheduleOverlapPolicy.ALLOW_ALL)
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


COMMANDS = [reprocess, schedule]
