"""Reconcile: what a listing of ``inbox/`` says should be running. Pure, sandbox-safe.

Every manifest in the inbox is a drop to start (the starter makes that a no-op for drops
already started or finished); media whose folder has no manifest after a grace period are
reported as orphans, since no event will ever start them. Zero-byte folder markers are
nobody's media; empty manifests start nothing (their content is a later upload), and
manifests outside a drop folder or not named ``manifest.json`` are reported as misplaced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline.domain.drop import DropRef
from pipeline.domain.layout import INBOX_PREFIX, drop_folder, is_manifest_key, misplaced_manifest
from pipeline.domain.media_names import is_folder_marker

REPORT_LIMIT = 100
"""Keys listed per category in a report; the counts are always complete."""


@dataclass(frozen=True)
class InboxObject:
    key: str
    etag: str
    last_modified: datetime
    size: int = 1


@dataclass(frozen=True)
class InboxPlan:
    drops: list[DropRef]
    orphans: list[str]
    misplaced: list[str] = field(default_factory=list)


def plan_inbox(
    objects: Iterable[InboxObject], *, bucket: str, now: datetime, grace: timedelta
) -> InboxPlan:
    """Drops to (re)start and orphaned media older than ``grace``, in key order."""
    listed = sorted(
        (item for item in objects if not is_folder_marker(item.key, item.size)),
        key=lambda item: item.key,
    )
    manifests = [item for item in listed if is_manifest_key(item.key)]
    folders = {drop_folder(item.key) for item in manifests}
    misplaced = [reason for item in listed if (reason := misplaced_manifest(item.key))]
    orphans = [
        item.key
        for item in listed
        if not is_manifest_key(item.key)
        and misplaced_manifest(item.key) is None
        and item.key.startswith(INBOX_PREFIX)
        and not _inside_any(item.key, folders)
        and now - item.last_modified >= grace
    ]
    drops = [DropRef.of(bucket, item.key, item.etag) for item in manifests if item.size > 0]
    return InboxPlan(drops=drops, orphans=orphans, misplaced=misplaced)


def _inside_any(key: str, folders: set[str]) -> bool:
    """Whether ``key`` sits in one of ``folders`` or below it."""
    parts = key.split("/")
    return any("/".join(parts[:depth]) + "/" in folders for depth in range(2, len(parts)))
