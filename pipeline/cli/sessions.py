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
from datetime import datetime
from typing import Any

import click
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from pipeline.cli.context import App, ExitCode
from pipeline.cli.follow import POLL_S, follow_to_end
from pipeline.cli.params import MOMENT
from pipeline.cli.session_view import (
    TERMINAL,
    SessionStatus,
    no_such_session,
    session_status,
    status_name,
)
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


async def list_sessions(client: Client, query: str, limit: int) -> list[dict[str, Any]]:
    rows = []
    async for execution in client.list_workflows(query, limit=limit):
        found = execution.typed_search_attributes
        rows.append(
            {
                "session_id": session_id_of_workflow(execution.id),
                "workflow_id": execution.id,
                "status": found.get(attributes.SESSION_STATUS)
                or status_name(execution.status or WorkflowExecutionStatus.RUNNING),
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
@click.argument("session_id")
@click.option("--reason", default="", help="Why; recorded in error.json and the history.")
@click.option("--no-wait", is_flag=True, help="Return once the cancel is requested.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def cancel(app: App, session_id: str, reason: str, no_wait: bool, as_json: bool) -> None:
    """Cancel a running session: its ComfyUI prompt is interrupted, what it made is kept,
    and error.json says who cancelled and why. A finished session is left as it is."""

    async def run() -> tuple[bool, SessionStatus]:
        client = await connect(app.settings, identity=operator_identity("pipeline cancel"))
        view = await session_status(client, app.settings, session_id)
        if view.finished or view.status == "pending":
            return False, view
        try:
            await client.get_workflow_handle(view.workflow_id).cancel(reason=reason)
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
        if no_wait:
            return True, view
        deadline = time.monotonic() + CANCEL_WAIT_S
        while time.monotonic() < deadline:
            view = await session_status(client, app.settings, session_id)
            if view.finished:
                break
            await asyncio.sleep(POLL_S)
        return True, view

    requested, view = asyncio.run(run())
    if as_json:
        click.echo(json.dumps({"cancel_requested": requested, **view.model_dump(mode="json")}))
    elif view.status == "pending":
        raise no_such_session(view.session_id)
    elif not requested:
        click.echo(f"session {view.session_id} already {view.status}: nothing to cancel", err=True)
    elif view.finished:
        click.echo(f"session {view.session_id} {view.status}")
    else:
        click.echo(f"session {view.session_id}: cancel requested ({view.stage})")
    if view.status == "pending":
        sys.exit(ExitCode.NOT_FOUND)
    if requested and not no_wait and view.status not in TERMINAL:
        sys.exit(ExitCode.FAILED)


def operator_identity(tool: str) -> str:
    """Who is acting, as Temporal records it: ``user@host (tool)``."""
    return f"{getpass.getuser()}@{socket.gethostname()} ({tool})"


COMMANDS = [tail, ls, cancel]
