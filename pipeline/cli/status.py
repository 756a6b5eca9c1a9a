"""``pipeline status`` and ``pipeline schema``."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from pipeline.cli.context import App, ExitCode
from pipeline.cli.follow import print_outcome, progress_line
from pipeline.cli.session_view import SessionStatus, no_such_session, session_status
from pipeline.domain import records
from pipeline.domain.manifest import json_schema
from pipeline.temporal_client import connect
from workflows_comfy.preset_file import json_schema as presets_schema


@click.command()
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def status(app: App, session_id: str, as_json: bool) -> None:
    """Show a session: status, error if any, and a fresh URL for every output.

    The URLs are minted now from the keys, so they work whatever the age of the session;
    presigned ones stop working PRESIGN_EXPIRY_S from now (said with them; expires_at with
    --json): run it again for new ones.
    """

    async def fetch() -> SessionStatus:
        return await session_status(await connect(app.settings), app.settings, session_id)

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
