"""``pipeline tail``, ``pipeline ls`` and ``pipeline cancel``: follow, find and stop sessions.

Exit codes scripts can trust: 0 the session succeeded (``tail``) or the command did what
was asked; 1 the session failed or was cancelled (``tail``); 2 bad input (a one-line error);
3 no such session (``tail`` gives a just-uploaded manifest ``START_GRACE_S`` to start one);
5 ``tail --timeout`` ran out first (``pipeline.cli.follow``).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import socket
import sys
import time
from dataclasses import asdict
from datetime import datetime
from typing import Any

import click
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from pipeline.cli.context import App, ExitCode, NotFound
from pipeline.cli.follow import POLL_S, follow_to_end
from pipeline.cli.params import MOMENT
from pipeline.cli.session_view import (
    TERMINAL,
    SessionStatus,
    no_such_session,
    session_status,
    status_name,
)
from pipeline.cli.targets import BatchStatus, batch_status, is_batch, resolve, run_status
from pipeline.domain.drop import session_id_of_workflow
from pipeline.temporal_client import connect
from pipeline.workflows import attributes
from pipeline.workflows.attributes import sessions_query

CANCEL_WAIT_S = 30.0


@click.command()
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="Print the final status as one JSON object.")
@click.option(
    "--timeout", type=click.FloatRange(min=0), default=None, help="Give up after this many seconds."
)
@click.pass_obj
def tail(app: App, session_id: str, as_json: bool, timeout: float | None) -> None:
    """Follow SESSION_ID with live bars (stage, segment, sampler step) until it ends.

    Exits 0 if it succeeded, 1 if it failed or was cancelled, 3 if no session by that id
    started within a minute (or before --timeout ran out), 5 if --timeout ran out first
    (it keeps running).
    """
    follow_to_end(app, session_id, limit_s=timeout, as_json=as_json)


@click.command(name="ls")
@click.option(
    "--status",
    type=click.Choice(["running", "succeeded", "failed", "cancelled"]),
    help="Only sessions in this state.",
)
@click.option("--kind", help="Only this kind (i2v, s2v, infinitetalk).")
@click.option("--preset", help="Only this model preset.")
@click.option(
    "--since", type=MOMENT, help="Started within this long (30m, 24h, 7d) or since a date."
)
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def ls(
    app: App,
    status: str | None,
    kind: str | None,
    preset: str | None,
    since: datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """List sessions, newest first, through Temporal's visibility."""
    query = sessions_query(status=status, kind=kind, preset=preset, since=since)

    async def fetch() -> list[dict[str, Any]]:
        return await list_sessions(await connect(app.settings), query, limit)

    rows = asyncio.run(fetch())
    if as_json:
        click.echo(json.dumps({"query": query, "sessions": rows}, indent=2))
        return
    if not rows:
        click.echo(f"no sessions match: {query}", err=True)
        return
    width = max(len(row["session_id"]) for row in rows)
    for row in rows:
        click.echo(
            f"{row['session_id']:<{width}} {row['status']:<10} {row['stage'] or '-':<17} "
            f"{row['kind'] or '-':<13} {row['preset'] or '-':<20} {row['started_at'][:19]}"
        )


def listed_status(recorded: str | None, execution: WorkflowExecutionStatus) -> str:
    """A listed session's status: the one it recorded (``SessionStatus``), unless it says
    running of a closed workflow (terminated or timed out, which run no workflow code):
    then Temporal's (``terminated``, ``timed_out``)."""
    closed = execution is not WorkflowExecutionStatus.RUNNING
    if recorded and not (recorded == "running" and closed):
        return recorded
    return status_name(execution)


async def list_sessions(client: Client, query: str, limit: int) -> list[dict[str, Any]]:
    rows = []
    async for execution in client.list_workflows(query, limit=limit):
        found = execution.typed_search_attributes
        rows.append(
            {
                "session_id": session_id_of_workflow(execution.id),
                "workflow_id": execution.id,
                "status": listed_status(
                    found.get(attributes.SESSION_STATUS),
                    execution.status or WorkflowExecutionStatus.RUNNING,
                ),
                "stage": found.get(attributes.PIPELINE_STAGE),
                "kind": found.get(attributes.DROP_KIND),
                "preset": found.get(attributes.DROP_PRESET),
                "drop_key": found.get(attributes.DROP_KEY),
                "gpu_worker": found.get(attributes.GPU_WORKER),
                "started_at": execution.start_time.isoformat(),
                "closed_at": execution.close_time.isoformat() if execution.close_time else None,
            }
        )
    return rows


@click.command()
@click.argument("identifier", metavar="ID")
@click.option("--reason", default="", help="Why; recorded in error.json and the history.")
@click.option("--no-wait", is_flag=True, help="Return once the cancel is requested.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def cancel(app: App, identifier: str, reason: str, no_wait: bool, as_json: bool) -> None:
    """Cancel a session, a rerun of it, or a reprocessing batch (``pipeline.cli.targets``).

    ID is a session id (the session and every rerender or batch rerun of it still
    running), one rerun's workflow id (``rerender-…``, ``rerun-…``), or a batch's
    (``reprocess-…``). Its ComfyUI prompt is interrupted, what it made is kept, and
    error.json says who cancelled and why. Waits for each run to end: exits 0 when every
    one ended cancelled; 1 when one had ended, or ended otherwise (the cancel came after
    its end: its result.json or error.json was already being written), or was still
    running after 30 s; 3 when nothing by that id exists.
    """
    if is_batch(identifier):
        _cancel_batch(app, identifier, reason, no_wait=no_wait, as_json=as_json)
        return

    async def run() -> tuple[tuple[str, ...], SessionStatus, dict[str, str]]:
        client = await connect(app.settings, identity=operator_identity("pipeline cancel"))
        resolved = await resolve(client, identifier)
        for workflow_id in resolved.running:
            try:
                await client.get_workflow_handle(workflow_id).cancel(reason=reason)
            except RPCError as exc:
                if exc.status is not RPCStatusCode.NOT_FOUND:
                    raise
        ended = {workflow_id: "running" for workflow_id in resolved.running}
        deadline = time.monotonic() + (0 if no_wait else CANCEL_WAIT_S)
        while True:
            for workflow_id, status in ended.items():
                if status not in TERMINAL:
                    ended[workflow_id] = await run_status(client, workflow_id) or "pending"
            if all(s in TERMINAL for s in ended.values()) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL_S)
        shown = resolved.running[0] if resolved.running else identifier
        return resolved.running, await session_status(client, app.settings, shown), ended

    requested, view, ended = asyncio.run(run())
    late = {w: s for w, s in ended.items() if s in TERMINAL and s != "cancelled"}
    if as_json:
        click.echo(
            json.dumps(
                {
                    "cancel_requested": bool(requested),
                    "outcomes": ended,
                    "after_the_end": sorted(late),
                    **view.model_dump(mode="json"),
                }
            )
        )
    elif view.status == "pending" and not requested:
        raise no_such_session(view.session_id)
    elif not requested:
        click.echo(f"session {view.session_id} already {view.status}: nothing to cancel", err=True)
    for workflow_id, status in ended.items() if not as_json else ():
        if no_wait:
            click.echo(f"{workflow_id}: cancel requested")
        elif status == "cancelled":
            click.echo(f"{workflow_id} cancelled")
        elif workflow_id in late:
            click.echo(
                f"{workflow_id} {status}: the cancel came after its end (its outcome was "
                "already being recorded); nothing was cancelled",
                err=True,
            )
        else:
            click.echo(
                f"{workflow_id}: cancel requested, still {status} after {CANCEL_WAIT_S:.0f} s"
            )
    if view.status == "pending" and not requested:
        sys.exit(ExitCode.NOT_FOUND)
    if not requested and view.status != "cancelled":
        sys.exit(ExitCode.FAILED)
    if not no_wait and any(status != "cancelled" for status in ended.values()):
        sys.exit(ExitCode.FAILED)


def _cancel_batch(app: App, workflow_id: str, reason: str, *, no_wait: bool, as_json: bool) -> None:
    """``pipeline cancel reprocess-…``: the batch, and with it its running reruns."""

    async def run() -> tuple[bool, BatchStatus]:
        client = await connect(app.settings, identity=operator_identity("pipeline cancel"))
        view = await batch_status(client, workflow_id)
        if view.status != "running":
            return False, view
        await client.get_workflow_handle(workflow_id).cancel(reason=reason)
        deadline = time.monotonic() + (0 if no_wait else CANCEL_WAIT_S)
        while view.status not in TERMINAL and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
            view = await batch_status(client, workflow_id)
        return True, view

    requested, view = asyncio.run(run())
    if view.status == "pending":
        raise NotFound(f"no batch {workflow_id}: Temporal knows no such workflow")
    if as_json:
        click.echo(
            json.dumps(
                {"cancel_requested": requested, **asdict(view)},
                default=lambda counts: counts.model_dump(),
            )
        )
    elif not requested:
        click.echo(f"{view.line()}: nothing to cancel", err=True)
    else:
        click.echo(view.line())
    if (not no_wait or not requested) and view.status != "cancelled":
        sys.exit(ExitCode.FAILED)


def operator_identity(tool: str) -> str:
    """Who is acting, as Temporal records it: ``user@host (tool)``."""
    return f"{getpass.getuser()}@{socket.gethostname()} ({tool})"


COMMANDS = [tail, ls, cancel]
