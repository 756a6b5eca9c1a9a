"""``pipeline reprocess``: rerun the sessions some filters select, now, as one batch.

The filters (``selection_options``) and the request they build are shared with
``pipeline schedule create`` (``pipeline.cli.schedule``), which reruns them on a schedule.

Exit codes: 0 done (every rerun succeeded with ``--wait``); 1 some reruns failed; 2 bad input.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import click
from temporalio.client import Client
from temporalio.service import RPCError

from pipeline.cli.context import App
from pipeline.cli.params import DURATION, MOMENT
from pipeline.cli.terminal import Board, bar
from pipeline.cli.upload import parse_assignments
from pipeline.config import Settings
from pipeline.domain.contracts import BatchCounts, ReprocessRequest, Selection
from pipeline.reprocess import describe_batch, new_batch_id, select, start_batch
from pipeline.storage import ObjectStore
from pipeline.temporal_client import connect
from pipeline.workflows.reprocess import ReprocessWorkflow

F = TypeVar("F", bound=Callable[..., Any])
POLL_S = 1.0


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
        click.option(
            "--since", type=MOMENT, default=None, help="Started since: 24h, 7d or an ISO date."
        ),
        click.option(
            "--until", type=MOMENT, default=None, help="Started before: an ISO date or 1h (ago)."
        ),
        click.option(
            "--within",
            type=DURATION,
            default=None,
            help="Started in the last 24h, 7d… of each run.",
        ),
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
    within: timedelta | None = chosen["within"]
    since: datetime | None = chosen["since"]
    until: datetime | None = chosen["until"]
    selection = Selection(
        status=chosen["status"],
        error_codes=tuple(chosen["error_codes"]),
        retryable_only=chosen["retryable"],
        kind=chosen["kind"],
        preset=chosen["preset"],
        since=since,
        until=until,
        within_s=int(within.total_seconds()) if within else None,
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
        board = app.terminal.board(as_json=as_json)
        return handle.id, await follow_batch(client, handle.id, board)

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


async def follow_batch(client: Client, workflow_id: str, board: Board) -> BatchCounts:
    """Poll the batch's counts (across continue-as-new) until it ends, showing them on
    ``board`` as one line (a bar of the finished reruns)."""
    handle = client.get_workflow_handle(workflow_id, result_type=BatchCounts)
    while True:
        description = await handle.describe()
        state = description.status.name if description.status is not None else "RUNNING"
        if state not in ("RUNNING", "CONTINUED_AS_NEW"):
            board.clear()
            counts: BatchCounts = await handle.result()
            return counts
        try:
            counts = await handle.query(ReprocessWorkflow.counts)
        except RPCError:
            await asyncio.sleep(POLL_S)
            continue
        board.show(
            [
                f"{bar(counts.finished, counts.selected)} {counts.finished}/{counts.selected} "
                f"· {counts.running} running · {counts.failed} failed"
            ]
        )
        await asyncio.sleep(POLL_S)


def _counts_line(counts: BatchCounts) -> str:
    return (
        f"{counts.selected} selected · {counts.done} done · {counts.failed} failed · "
        f"{counts.skipped} skipped · at most {counts.peak_running} at once"
    )


COMMANDS = [reprocess]
