"""Storage event bodies → the drops they announce. Pure: parsing only, no I/O.

S3 (and moto, MinIO) send ``{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket":
{"name"}, "object": {"key", "eTag"}}}]}`` with URL-encoded keys (``+`` is a space), and one
``{"Event": "s3:TestEvent"}`` when a notification rule is created. MinIO prefixes event
names with ``s3:`` (``s3:ObjectCreated:Put``).

R2 event notifications (https://developers.cloudflare.com/r2/buckets/event-notifications/)
send one object per message: ``{"account", "action": "PutObject", "bucket", "object": {"key",
"size", "eTag"}, "eventTime"}``.

SeaweedFS's filer metadata stream (``weed filer.meta.tail``, the ``SubscribeMetadata`` response
of ``weed/pb/filer.proto``) sends ``{"directory", "eventNotification": {"oldEntry", "newEntry":
{"name", "isDirectory", "attributes": {"md5"}, "extended": {"Seaweed-X-Amz-ETag"}},
"newParentPath"}, "tsNs", "events": [...]}``; bytes fields are base64, batched responses nest
more events under ``events``. A create or overwrite has a ``newEntry``, a delete only an
``oldEntry``; buckets are the folders ``/buckets/{bucket}/``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from pipeline.domain.drop import DropRef, normalize_etag
from pipeline.domain.errors import MalformedEvent
from pipeline.domain.layout import is_manifest_key, misplaced_manifest
from pipeline.domain.manifest import EMPTY_BODY_ETAG


@dataclass(frozen=True)
class ParsedEvents:
    drops: list[DropRef] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    """Why each record that is not a drop was skipped (for debug logs)."""
    refused: list[str] = field(default_factory=list)
    """Uploads that look like drops but start nothing, and why (for warnings): empty
    manifests (FUSE mounts and some clients write an empty object before the content)
    and manifests outside a drop folder or not named ``manifest.json``."""


def _classify(parsed: ParsedEvents, bucket: str, key: str, etag: Any, size: Any) -> None:
    """Add one created object to ``parsed``: a drop, a refusal or an ignored key."""
    if not is_manifest_key(key):
        reason = misplaced_manifest(key)
        if reason is not None:
            parsed.refused.append(reason)
        else:
            parsed.ignored.append(f"not a manifest: {key}")
        return
    if not isinstance(etag, str) or not etag:
        raise MalformedEvent(f"event for {key} has no eTag")
    if size == 0 or normalize_etag(etag) == EMPTY_BODY_ETAG:
        parsed.refused.append(f"{key} is empty; its content, once uploaded, starts the drop")
        return
    parsed.drops.append(DropRef.of(bucket, key, etag))


def _json_object(body: str | bytes) -> dict[str, Any]:
    try:
        document: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEvent(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedEvent("not a JSON object")
    return document


def parse_s3_notification(body: str | bytes) -> ParsedEvents:
    document = _json_object(body)
    if document.get("Event") == "s3:TestEvent":
        return ParsedEvents(ignored=["s3:TestEvent"])
    records = document.get("Records")
    if not isinstance(records, list):
        raise MalformedEvent("no 'Records' list")
    parsed = ParsedEvents()
    for record in records:
        try:
            name = str(record["eventName"])
            bucket = str(record["s3"]["bucket"]["name"])
            key = unquote_plus(str(record["s3"]["object"]["key"]))
            etag = record["s3"]["object"].get("eTag")
            size = record["s3"]["object"].get("size")
        except (KeyError, TypeError, AttributeError) as exc:
            raise MalformedEvent(f"record without {exc}") from None
        if not name.removeprefix("s3:").startswith("ObjectCreated:"):
            parsed.ignored.append(f"{name} {key}")
        else:
            _classify(parsed, bucket, key, None if etag is None else str(etag), size)
    return parsed


R2_CREATE_ACTIONS = frozenset({"PutObject", "CopyObject", "CompleteMultipartUpload"})
"""R2's ``object-create`` actions; deletes (``DeleteObject``, ``LifecycleDeletion``) start
nothing."""


def parse_r2_event(body: str | bytes) -> ParsedEvents:
    """One R2 event notification message body (already decoded from the queue's envelope)."""
    document = _json_object(body)
    action, bucket, item = document.get("action"), document.get("bucket"), document.get("object")
    if not isinstance(action, str) or not isinstance(bucket, str) or not isinstance(item, dict):
        raise MalformedEvent("an R2 event needs 'action', 'bucket' and 'object'")
    key = item.get("key")
    if not isinstance(key, str) or not key:
        raise MalformedEvent("an R2 event needs 'object.key'")
    if action not in R2_CREATE_ACTIONS:
        return ParsedEvents(ignored=[f"{action} {key}"])
    parsed = ParsedEvents()
    _classify(parsed, bucket, key, item.get("eTag"), item.get("size"))
    return parsed


SEAWEEDFS_ETAG = "Seaweed-X-Amz-ETag"
"""Where SeaweedFS's S3 gateway keeps an object's ETag (multipart ``…-N`` ones included)."""


@dataclass(frozen=True)
class FilerEvent:
    """One event of the filer's metadata stream, reduced to what ingest needs."""

    ts_ns: int
    """The filer's timestamp, strictly increasing along the stream: the resume cursor."""
    drop: DropRef | None
    """The drop a new or rewritten manifest announces; ``None`` for anything else."""
    ignored: str = ""
    refused: str = ""
    """Why an upload that looks like a drop starts nothing (as ``ParsedEvents.refused``)."""


def parse_filer_events(document: dict[str, Any], bucket: str) -> list[FilerEvent]:
    """The events of one ``SubscribeMetadataResponse`` (nested batches flattened)."""
    events = [_filer_event(item, bucket) for item in _flatten(document)]
    return [event for event in events if event is not None]


def _flatten(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "eventNotification" in document:
        yield document
    for nested in document.get("events") or []:
        if isinstance(nested, dict):
            yield from _flatten(nested)


def _filer_event(item: dict[str, Any], bucket: str) -> FilerEvent | None:
    try:
        ts_ns = int(item["tsNs"])
    except (KeyError, TypeError, ValueError):
        return None
    notification = item.get("eventNotification") or {}
    entry = notification.get("newEntry")
    if not isinstance(entry, dict) or entry.get("isDirectory"):
        return FilerEvent(ts_ns, None, "not a file creation")
    folder = str(notification.get("newParentPath") or item.get("directory") or "")
    root = f"/buckets/{bucket}/"
    path = f"{folder.rstrip('/')}/{entry.get('name', '')}"
    if not path.startswith(root):
        return FilerEvent(ts_ns, None, f"outside the bucket: {path}")
    key, etag = path.removeprefix(root), _filer_etag(entry)
    if is_manifest_key(key) and etag is None:
        return FilerEvent(ts_ns, None, f"no ETag for {path}")  # reconcile lists it with one
    size = str((entry.get("attributes") or {}).get("fileSize", ""))  # int64: a JSON string
    parsed = ParsedEvents()
    _classify(parsed, bucket, key, etag, int(size) if size.isdigit() else None)
    return FilerEvent(
        ts_ns,
        parsed.drops[0] if parsed.drops else None,
        "; ".join(parsed.ignored),
        "; ".join(parsed.refused),
    )


def _filer_etag(entry: dict[str, Any]) -> str | None:
    """The S3 ETag: the gateway's own record, else the md5 of a single-chunk write."""
    try:
        extended = (entry.get("extended") or {}).get(SEAWEEDFS_ETAG)
        if extended:
            return base64.b64decode(extended).decode()
        md5 = (entry.get("attributes") or {}).get("md5")
        if md5:
            return base64.b64decode(md5).hex()
    except (binascii.Error, UnicodeDecodeError, AttributeError):
        return None
    return None
