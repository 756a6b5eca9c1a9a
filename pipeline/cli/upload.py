"""Making a drop: media first, ``manifest.json`` last (its PUT is the trigger)."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from pipeline.domain.drop import DropRef
from pipeline.domain.errors import ManifestError
from pipeline.domain.layout import INBOX_PREFIX, MANIFEST_NAME
from pipeline.domain.manifest import Kind, Manifest, describe_validation_error
from pipeline.domain.media_types import accepted, role_of
from pipeline.storage import content_type_for

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


def classify_media(paths: list[Path]) -> dict[str, Path]:
    """Role (``image`` / ``audio``) of each file, by extension; one file per role.

    The extensions are those of ``pipeline.domain.media_types``, the list the workers
    accept the decoded files by; an unknown one is a ``ManifestError`` listing the types.
    """
    media: dict[str, Path] = {}
    for path in paths:
        role = role_of(path.name)
        if role is None:
            raise ManifestError(
                f"{path.name}: not a known image or audio/video file type (images: "
                f"{accepted('image')}; audio or video: {accepted('audio')})"
            )
        if role in media:
            raise ManifestError(f"two {role} files given ({media[role].name}, {path.name})")
        if not path.is_file():
            raise ManifestError(f"{path} does not exist")
        media[role] = path
    if "image" not in media:
        raise ManifestError("every kind needs an image")
    return media


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are JSON when they parse (``steps=8``), else strings."""
    fields: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise ManifestError(f"--set {assignment!r}: expected key=value")
        try:
            fields[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            fields[key.strip()] = value
    return fields


def build_manifest(kind: Kind, media: dict[str, Path], fields: dict[str, Any]) -> Manifest:
    document = {"kind": kind.value, **{role: path.name for role, path in media.items()}, **fields}
    try:
        return Manifest.model_validate(document)
    except ValidationError as exc:
        raise ManifestError(f"invalid manifest: {describe_validation_error(exc)}") from None


def new_drop_name(stem: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stem}-{stamp}-{secrets.token_hex(2)}"


def upload_drop(
    s3: S3Client, bucket: str, name: str, media: dict[str, Path], manifest: Manifest
) -> DropRef:
    """Upload every medium, then the manifest; returns the drop the manifest PUT created."""
    folder = f"{INBOX_PREFIX}{name}/"
    for path in media.values():
        s3.upload_file(
            str(path),
            bucket,
            folder + path.name,
            ExtraArgs={"ContentType": content_type_for(path.name)},
        )
    # What was set, not every default: workers of an older release refuse fields they lack.
    body = manifest.model_dump_json(exclude_defaults=True, indent=2).encode()
    response = s3.put_object(
        Bucket=bucket, Key=folder + MANIFEST_NAME, Body=body, ContentType="application/json"
    )
    return DropRef.of(bucket, folder + MANIFEST_NAME, response["ETag"])
