"""``pipeline gc``: expire by listing what the bucket's lifecycle rules cannot.

No store's lifecycle filter selects a session's intermediate files while sparing its video
and records (``pipeline.domain.retention``), and some stores have no lifecycle support at
all. ``gc`` lists the bucket and applies every ``RETENTION_*`` rule itself
(``retention.sweep``): ``--dry-run`` (the default) says what would go, ``--apply`` deletes
it. Run it daily (cron, a Kubernetes CronJob); rerunning it is harmless.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from pipeline.cli.context import App
from pipeline.cli.params import Duration
from pipeline.cli.terminal import Transfer, size
from pipeline.config import Settings
from pipeline.domain.layout import INBOX_PREFIX, SESSIONS_PREFIX
from pipeline.domain.retention import MULTIPART_RULE, RetentionPolicy, Stored, Sweep, Upload, sweep
from pipeline.storage import DELETE_BATCH, ObjectStore

_DAYS = (
    ("multipart_days", "RETENTION_MULTIPART_DAYS"),
    ("inbox_days", "RETENTION_INBOX_DAYS"),
    ("session_days", "RETENTION_SESSION_DAYS"),
    ("intermediate_days", "RETENTION_INTERMEDIATE_DAYS"),
)


async def collect(settings: Settings, now: datetime) -> Sweep:
    """What ``settings.retention`` expires in the bucket at ``now``: ``inbox/`` and
    ``sessions/`` listed, and the multipart uploads not completed."""
    async with ObjectStore(settings) as store:
        objects = [
            Stored(meta.key, meta.size, meta.last_modified or now)
            for prefix in (INBOX_PREFIX, SESSIONS_PREFIX)
            async for meta in store.list_keys(prefix)
        ]
        uploads: list[Upload] = [upload async for upload in store.list_uploads()]
    return sweep(settings.retention, objects, uploads, now)


async def expire(settings: Settings, found: Sweep, progress: Transfer) -> None:
    """Delete ``found``'s objects (``DeleteObjects``, ``DELETE_BATCH`` a request) and abort
    its uploads; ``progress`` advances by the bytes deleted."""
    stored = [item for items in found.expired.values() for item in items]
    async with ObjectStore(settings) as store:
        for start in range(0, len(stored), DELETE_BATCH):
            batch = stored[start : start + DELETE_BATCH]
            await store.delete_batch([item.key for item in batch])
            progress.advance(sum(item.size for item in batch))
        for upload in found.aborted:
            await store.abort_upload(upload)
    progress.close()


def _report(policy: RetentionPolicy, found: Sweep, *, applied: bool) -> dict[str, Any]:
    return {
        "applied": applied,
        "policy": {name: getattr(policy, name) for name, _ in _DAYS},
        "expired": {
            rule: {
                "objects": len(items),
                "bytes": sum(item.size for item in items),
                "keys": [item.key for item in items],
            }
            for rule, items in found.expired.items()
        },
        "aborted_uploads": [
            {"key": u.key, "upload_id": u.upload_id, "initiated": u.initiated.isoformat()}
            for u in found.aborted
        ],
    }


@click.command()
@click.option(
    "--dry-run/--apply",
    "dry_run",
    default=True,
    help="Say what would be deleted (the default), or delete it.",
)
@click.option(
    "--within",
    type=Duration(),
    default=None,
    help="With --dry-run: what will have expired by then, e.g. 7d (preview a new rule).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def gc(app: App, dry_run: bool, within: timedelta | None, as_json: bool) -> None:
    """Expire what RETENTION_* says by listing the bucket: inbox leftovers, whole sessions,
    a finished session's intermediate files (RETENTION_INTERMEDIATE_DAYS, which no
    lifecycle rule can express) and unfinished multipart uploads."""
    settings = app.settings
    policy = settings.retention
    if not any(getattr(policy, name) for name, _ in _DAYS):
        names = ", ".join(variable for _, variable in _DAYS)
        raise click.UsageError(f"no retention rule is set ({names} are all 0): nothing expires")
    if within is not None and not dry_run:
        raise click.UsageError("--within previews what will expire: use it with --dry-run")
    found = asyncio.run(collect(settings, datetime.now(UTC) + (within or timedelta())))
    total = sum(item.size for items in found.expired.values() for item in items)
    if not dry_run:
        bar = app.terminal.transfer("deleting", total, as_json=as_json)
        asyncio.run(expire(settings, found, bar))
    if as_json:
        click.echo(json.dumps(_report(policy, found, applied=not dry_run)))
        return
    deleted, aborted = ("would delete", "would abort") if dry_run else ("deleted", "aborted")
    for rule, items in found.expired.items():
        click.echo(f"{rule}: {deleted} {len(items)} objects ({size(sum(i.size for i in items))})")
    if found.aborted:
        click.echo(f"{MULTIPART_RULE}: {aborted} {len(found.aborted)} unfinished uploads")
    if not found.expired and not found.aborted:
        click.echo(f"{settings.r2_bucket_name}: nothing {'will have' if within else 'has'} expired")
    elif dry_run:
        click.echo("dry run: pass --apply to delete")


COMMANDS = [gc]
