"""``pipeline drop`` and ``pipeline demo``: make a drop, optionally follow it to the end."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import NoReturn

import click

from pipeline.cli.context import App
from pipeline.cli.follow import follow_to_end
from pipeline.cli.sample import make_sample_image
from pipeline.cli.upload import (
    build_manifest,
    classify_media,
    new_drop_name,
    parse_assignments,
    upload_drop,
)
from pipeline.domain.manifest import Kind, Manifest
from pipeline.storage import sync_s3
from pipeline.temporal_client import connect

WAIT_S = 3600.0
"""How long ``drop --wait`` follows a session unless ``--timeout`` says otherwise."""


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


_set_option = click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="A manifest field, e.g. --set prompt='a cat' --set extensions=2.",
)


@click.command(epilog=manifest_fields_help())
@click.argument(
    "media", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--kind", type=click.Choice([k.value for k in Kind]), default=Kind.I2V.value, show_default=True
)
@_set_option
@click.option("--name", help="Drop folder name under inbox/ (default: derived, unique).")
@click.option("--wait", is_flag=True, help="Follow the session until it ends.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    help=f"Seconds --wait follows the session (default {WAIT_S:.0f}); then it exits 5 and "
    "the session goes on.",
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
    timeout: float | None,
) -> None:
    """Upload MEDIA to inbox/{name}/, then its manifest; prints the session id.

    MEDIA is one image and, for s2v / infinitetalk, one audio or video file, told apart by
    extension: the types the workers decode (the manifest page's "Media types").
    """
    if timeout is not None and not wait:
        raise click.UsageError("--timeout applies only with --wait")
    files = classify_media(list(media))
    manifest = build_manifest(Kind(kind), files, parse_assignments(list(assignments)))
    drop_name = name or new_drop_name(files["image"].stem)
    if wait:  # what --wait follows must be reachable before anything is uploaded
        asyncio.run(connect(app.settings))
    ref = upload_drop(
        sync_s3(app.settings), app.settings.r2_bucket_name, drop_name, files, manifest
    )
    if wait:
        limit_s = WAIT_S if timeout is None else timeout
        _follow(app, ref.session_id, as_json=as_json, timeout=limit_s)
    click.echo(json.dumps({"session_id": ref.session_id}) if as_json else ref.session_id)


@click.command(epilog=manifest_fields_help())
@_set_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.pass_obj
def demo(app: App, assignments: tuple[str, ...], as_json: bool) -> None:
    """Drop the bundled sample (an image, one extension) and follow it to the end.

    ``--set`` changes its manifest, e.g. ``--set width=128 --set height=128`` for a real
    ComfyUI on a CPU (``make demo COMFYUI_DIR=…`` does that).
    """
    image = make_sample_image(app.settings.state_dir / "sample" / "sunset.png")
    files = {"image": image}
    fields: dict[str, object] = {
        "prompt": "a calm sunset over rolling hills, clouds drifting",
        "extensions": 1,
    }
    manifest = build_manifest(Kind.I2V, files, fields | parse_assignments(list(assignments)))
    asyncio.run(connect(app.settings))  # followed next: Temporal first, then the upload
    ref = upload_drop(
        sync_s3(app.settings), app.settings.r2_bucket_name, new_drop_name("demo"), files, manifest
    )
    _follow(app, ref.session_id, as_json=as_json, timeout=1800.0)


def _follow(app: App, session_id: str, *, as_json: bool, timeout: float) -> NoReturn:
    settings = app.settings
    if not as_json:
        click.echo(f"session {session_id}")
        click.echo(
            f"watch it: {settings.ui_url}/namespaces/{settings.temporal_namespace}"
            f"/workflows/session-{session_id}",
            err=True,
        )
    follow_to_end(app, session_id, limit_s=timeout, as_json=as_json, uploaded=True)


COMMANDS = [drop, demo]
