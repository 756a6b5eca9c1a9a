"""``pipeline verify FILE|URL|SESSION``: check an output's C2PA Content Credentials.

Validates the manifest's signature, its hard binding to the bytes, and the signer's chain
against ``SIGNING_TRUST_ANCHORS_PATH`` (with ``R2_ENDPOINT_URL`` unset, the embedded stack's
development CA), then prints what made the file. Exit codes (``VerifyExit``): 0 valid and
trusted, 1 invalid (edited, re-muxed) or no manifest, 2 usage or configuration (no such
file, session or URL, an unreadable trust list), 3 valid but signed by an untrusted chain.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from enum import IntEnum
from pathlib import Path, PurePosixPath
from typing import Any

import click
import httpx

from pipeline.cli.context import App
from pipeline.config import Settings
from pipeline.domain.errors import ConfigError
from pipeline.domain.layout import SessionLayout
from pipeline.domain.records import SessionRecord
from pipeline.provenance.credentials import development_paths
from pipeline.provenance.signing import MIME_TYPES
from pipeline.provenance.verify import Status, Verification, verify_file
from pipeline.storage import ObjectStore


class VerifyExit(IntEnum):
    TRUSTED = 0
    INVALID = 1
    """A check failed (signature, hash, binding) or the file has no manifest."""
    USAGE = 2
    UNTRUSTED = 3
    """Signature and binding hold; the signer's chain ends at no configured anchor."""


EXIT_CODES = {
    Status.TRUSTED: VerifyExit.TRUSTED,
    Status.UNTRUSTED: VerifyExit.UNTRUSTED,
    Status.INVALID: VerifyExit.INVALID,
    Status.MISSING: VerifyExit.INVALID,
}


def trust_anchors(settings: Settings) -> str | None:
    """The PEM anchors: ``SIGNING_TRUST_ANCHORS_PATH``, else (``R2_ENDPOINT_URL`` unset:
    the embedded stack) its development CA if made; None trusts no signer."""
    path = settings.signing_trust_anchors_path
    if path is None and "r2_endpoint_url" not in settings.model_fields_set:
        made = development_paths(settings.state_dir).ca_path
        path = made if made.is_file() else None
    if path is None:
        return None
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigError(
            f"SIGNING_TRUST_ANCHORS_PATH: cannot read {path}: {exc.strerror}"
        ) from None


async def _session_video(settings: Settings, session_id: str, scratch: Path) -> Path:
    layout = SessionLayout(session_id)
    async with ObjectStore(settings) as store:
        document = await store.get_json(layout.result)
        if document is None:
            raise click.UsageError(f"{session_id}: no such file, and no session with a result.json")
        record = SessionRecord.model_validate(document)
        key = record.objects.get("combined", layout.combined(record.run))
        target = scratch / PurePosixPath(key).name
        await store.download(key, target)
    return target


def _download(url: str, scratch: Path) -> Path:
    name = PurePosixPath(httpx.URL(url).path).name or "download"
    target = scratch / name
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60) as answer:
            answer.raise_for_status()
            with target.open("wb") as out:
                for chunk in answer.iter_bytes():
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise click.UsageError(f"{url}: cannot fetch it: {exc}") from None
    return target


def _lines(target: str, result: Verification) -> list[str]:
    lines = [f"{target}: {result.status.value}"]
    lines += [f"  failed    : {failure}" for failure in result.failures]
    if result.label is None:
        return lines
    signer = result.signer
    lines.append(f"  manifest  : {result.label}")
    lines.append(f"  signer    : {signer.get('common_name')} (issuer {signer.get('issuer')})")
    for agent in result.generator:
        lines.append(f"  generator : {agent.get('name')} {agent.get('version', '')}".rstrip())
    for action in result.actions:
        lines.append(f"  action    : {action.get('action')} {action.get('digitalSourceType', '')}")
    for item in result.ingredients:
        sha = (item.get("metadata") or {}).get("org.wan-pipeline.sha256")
        lines.append(f"  input     : {item.get('title')} {item.get('format')} sha256 {sha}")
    render: dict[str, Any] = result.render or {}
    for name in ("credential", "kind", "preset", "seed", "steps", "cfg", "comfyui_version",
                 "worker", "device"):  # fmt: skip
        if render.get(name) is not None:
            lines.append(f"  {name:<10}: {render[name]}")
    for model in render.get("models", []):
        lines.append(f"  model     : {model.get('file')} sha256 {model.get('sha256')}")
    for graph in render.get("graphs", []):
        lines.append(
            f"  graph     : segment {graph.get('segment')} attempt {graph.get('attempt')} "
            f"sha256 {graph.get('graph_sha256')}"
        )
    return lines


@click.command()
@click.argument("target", metavar="FILE|URL|SESSION")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def verify(app: App, target: str, as_json: bool) -> None:
    """Verify an output's C2PA Content Credentials and show what made it.

    FILE is a signed mp4, jpeg or png; URL is fetched first; SESSION verifies the session's
    combined video from the store (its result.json names it). Exit 0: valid and trusted;
    1: invalid (edited or re-muxed) or no manifest; 2: usage or configuration; 3: valid
    but the signer is not trusted (SIGNING_TRUST_ANCHORS_PATH).
    """
    anchors = trust_anchors(app.settings)
    with tempfile.TemporaryDirectory(prefix="verify-") as folder:
        scratch = Path(folder)
        if target.startswith(("http://", "https://")):
            path = _download(target, scratch)
        elif Path(target).exists():
            path = Path(target)
        else:
            path = asyncio.run(_session_video(app.settings, target, scratch))
        if path.suffix.lower() not in MIME_TYPES:
            raise click.UsageError(f"{target}: verify takes mp4, jpeg or png files")
        try:
            result = verify_file(path, anchors)
        except OSError as exc:
            raise click.UsageError(f"{target}: cannot read it: {exc.strerror}") from None
    if as_json:
        click.echo(json.dumps({"target": target, **result.as_json()}, indent=2))
    else:
        click.echo("\n".join(_lines(target, result)))
    sys.exit(EXIT_CODES[result.status])


COMMANDS = (verify,)
