"""``pipeline drop`` and ``pipeline demo``: make a drop, optionally follow it to the end."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import click

from pipeline.cli.context import App
from pipeline.cli.sample import make_sample_image
from pipeline.cli.session_view import SessionStatus, session_status
from pipeline.cli.upload import (
    build_manifest,
    classify_media,
    new_drop_name,
    parse_assignments,
    upload_drop,
)
from pipeline.config import Settings
from pipeline.domain.manifest import Kind, Manifest
from pipeline.storage import sync_s3
from pipeline.temporal_client import connect
from pipeline.workflows.describe import live_line

START_GRACE_S = 60.0
POLL_S = 0.5
INTERRUPTED = 130
"""Exit code after Ctrl-C (128 + SIGINT, as shells report it)."""


def manifest_fields_help() -> str:
    """The ``drop --help`` epilog: every manifest field, its meaning and its default."""
    lines = ["\b", "Manifest fields (set with --set KEY=VALUE; the schema: 'pipeline schema'):"]
    for name, field in Manifest.model_fields.items():
        about = field.description or ""
        if not field.is_required() and field.default not in (None, ""):
            default = getattr(field.default, "value", field.default)
            about = f"{about} (default {default})".strip()
        lines.append(f"  {name:<16} {about}".rstrip())
    return "\n".join(lines)


@click.command(epilog=manifest_fields_help())
@click.argument(
    "media", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--kind", type=click.Choice([k.value for k in Kind]), default=Kind.I2V.value, show_default=True
)
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="A manifest field, e.g. --set prompt='a cat' --set extensions=2.",
)
@click.option("--name", help="Drop folder name under inbox/ (default: derived, unique).")
@click.option("--wait", is_flag=True, help="Follow the session until it ends.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option(
    "--timeout",
    type=float,
    default=3600.0,
    show_default=True,
    help="Seconds --wait waits before giving up.",
)
@click.pass_obj
def drop(
    app: App,
    media: tuple[Path, ...],
    kind: str,
    assignments: tuple[str, ...],
    name: str | None,
    wait: bool,
    as_json: bool,
    timeout: float,
) -> None:
    """Upload MEDIA to inbox/{name}/, then its manifest; prints the session id."""
    files = classify_media(list(media))
    manifest = build_manifest(Kind(kind), files, parse_assignments(list(assignments)))
    drop_name = name or new_drop_name(files["image"].stem)
    ref = upload_drop(
        sync_s3(app.settings), app.settings.r2_bucket_name, drop_name, files, manifest
    )
    _report(app.settings, ref.session_id, wait=wait, as_json=as_json, timeout=timeout)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.pass_obj
def demo(app: App, as_json: bool) -> None:
    """Drop the bundled sample (an image, one extension) and follow it to the end."""
    image = make_sample_image(app.settings.state_dir / "sample" / "sunset.png")
    files = {"image": image}
    manifest = build_manifest(
        Kind.I2V,
        files,
        {
            "prompt": "a calm sunset over rolling hills, clouds drifting",
            "extensions": 1,
        },
    )
    ref = upload_drop(
        sync_s3(app.settings), app.settings.r2_bucket_name, new_drop_name("demo"), files, manifest
    )
    _report(app.settings, ref.session_id, wait=True, as_json=as_json, timeout=1800.0)


def _report(
    settings: Settings, session_id: str, *, wait: bool, as_json: bool, timeout: float
) -> None:
    if not wait:
        if as_json:
            click.echo(json.dumps({"session_id": session_id}))
        else:
            click.echo(session_id)
        return
    if not as_json:
        click.echo(f"session {session_id}")
        click.echo(
            f"watch it: {settings.ui_url}/namespaces/{settings.temporal_namespace}"
            f"/workflows/session-{session_id}",
            err=True,
        )
    try:
        status = asyncio.run(follow(settings, session_id, timeout, quiet=as_json))
    except KeyboardInterrupt:
        click.echo(
            f"stopped following; the session goes on ('pipeline status {session_id}')", err=True
        )
        sys.exit(INTERRUPTED)
    if as_json:
        click.echo(status.model_dump_json(indent=2))
    else:
        print_outcome(status)
    if status.status != "succeeded":
        sys.exit(1)


async def follow(
    settings: Settings, session_id: str, limit_s: float, *, quiet: bool
) -> SessionStatus:
    """Poll the session until it ends, printing each change of stage or step to stderr."""
    client = await connect(settings)
    deadline = time.monotonic() + limit_s
    start_deadline = time.monotonic() + START_GRACE_S
    last_line = ""
    while True:
        status = await session_status(client, settings, session_id)
        if status.finished:
            return status
        if status.status == "pending" and time.monotonic() > start_deadline:
            raise click.ClickException(
                f"no session started within {START_GRACE_S:.0f} s of the upload: "
                "is the ingest consumer running (pipeline up)?"
            )
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"session {session_id} still {status.stage} after {limit_s:.0f} s; it keeps running"
            )
        line = progress_line(status)
        if line != last_line and not quiet:
            click.echo(line, err=True)
            last_line = line
        await asyncio.sleep(POLL_S)


def progress_line(status: SessionStatus) -> str:
    if status.status == "pending":
        return "waiting for the session to start…"
    if status.progress is not None:
        line = live_line(status.progress)
        # What the workflow cannot know: media still uploading, no worker polling its queue.
        waiting = str(status.stage).partition("waiting for ")[2]
        return f"{line} · waiting for {waiting}" if waiting and waiting not in line else line
    parts = [str(status.stage)]
    if status.segments_total:
        parts.append(f"segments {status.segments_done}/{status.segments_total}")
    return " · ".join(parts)


def print_outcome(status: SessionStatus) -> None:
    if status.status == "succeeded" and status.result:
        click.echo(
            f"succeeded: {status.result['frames']} frames, {status.result['duration_s']:.2f} s"
        )
        for label, url in status.urls.items():
            click.echo(f"  {label}: {url}")
    else:
        error = status.error or {}
        click.echo(f"{status.status}: {error.get('message', 'see the Temporal UI')}", err=True)
        if "error" in status.urls:
            click.echo(f"  error.json: {status.urls['error']}", err=True)


COMMANDS = [drop, demo]
