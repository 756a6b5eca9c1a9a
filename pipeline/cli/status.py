"""``pipeline status`` and ``pipeline schema``."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict

import click

from pipeline.cli.context import App, ExitCode, NotFound
from pipeline.cli.follow import print_outcome, progress_line
from pipeline.cli.session_view import SessionStatus, no_such_session, session_status
from pipeline.cli.targets import BatchStatus, batch_status, is_batch, resolve
from pipeline.domain import records
from pipeline.domain.manifest import json_schema
from pipeline.temporal_client import connect
from workflows_comfy.preset_file import json_schema as presets_schema


@click.command()
@click.argument("session_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def status(app: App, session_id: str, as_json: bool) -> None:
    """Show a session: status, error if any, and a fresh URL for every output.

    ID is a session id (while a rerender or batch rerun of it runs, that run is shown), one
    rerun's workflow id (``rerender-…``, ``rerun-…``), or a batch's (``reprocess-…``: its
    status and counts). The URLs are minted now from the keys, so they work whatever the age
    of the session; presigned ones stop working PRESIGN_EXPIRY_S from now (said with them;
    expires_at with --json): run it again for new ones.
    """
    if is_batch(session_id):
        _batch(app, session_id, as_json)
        return

    async def fetch() -> SessionStatus:
        client = await connect(app.settings)
        shown = (await resolve(client, session_id)).workflow_id
        return await session_status(client, app.settings, shown)

    view = asyncio.run(fetch())
    if as_json:
        click.echo(view.model_dump_json(indent=2))
    elif view.status == "pending":
        raise no_such_session(session_id)
    elif view.finished:
        print_outcome(view)
    else:
        click.echo(f"{view.status}: {progress_line(view)}")
    sys.exit(status_exit_code(view))


def _batch(app: App, workflow_id: str, as_json: bool) -> None:
    """``pipeline status reprocess-…``: 0 running or succeeded, 1 otherwise, 3 no such batch."""

    async def fetch() -> BatchStatus:
        return await batch_status(await connect(app.settings), workflow_id)

    view = asyncio.run(fetch())
    if view.status == "pending":
        raise NotFound(f"no batch {workflow_id}: Temporal knows no such workflow")
    if as_json:
        click.echo(json.dumps(asdict(view), default=lambda counts: counts.model_dump()))
    else:
        click.echo(view.line())
    sys.exit(ExitCode.OK if view.status in ("running", "succeeded") else ExitCode.FAILED)


def status_exit_code(view: SessionStatus) -> int:
    """0 succeeded or still running, 1 failed or cancelled, 3 no such session."""
    if view.status == "pending":
        return ExitCode.NOT_FOUND
    if view.finished and view.status != "succeeded":
        return ExitCode.FAILED
    return ExitCode.OK


@click.command()
@click.argument(
    "document",
    type=click.Choice(["manifest", "presets", "result", "error"]),
    default="manifest",
)
def schema(document: str) -> None:
    """Print a JSON Schema: the manifest's (default), a presets file's, or a session's
    ``result.json`` / ``error.json``."""
    if document == "manifest":
        published = json_schema()
    elif document == "presets":
        published = presets_schema()
    else:
        published = records.json_schema("result" if document == "result" else "error")
    click.echo(json.dumps(published, indent=2))


COMMANDS = [status, schema]
