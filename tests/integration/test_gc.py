"""``pipeline gc`` against a real store (a bucket of its own on the session's SeaweedFS):
it lists, deletes a finished session's intermediate files, inbox leftovers and unfinished
multipart uploads, and leaves a running session, the video and the records."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner, Result

from pipeline.cli.app import cli
from pipeline.cli.gc import collect, expire
from pipeline.cli.terminal import NO_TRANSFER
from pipeline.domain.layout import SessionLayout
from pipeline.domain.retention import INBOX_RULE, INTERMEDIATE_RULE
from pipeline.storage import sync_s3
from tests.conftest import S3Bucket

pytestmark = pytest.mark.integration

RUN = "20261101T000000Z"
DONE, RUNNING = SessionLayout("done"), SessionLayout("running")
KEPT = {
    DONE.manifest,
    DONE.plan,
    DONE.quality(RUN, 0),
    DONE.combined(RUN),
    DONE.preview_poster(RUN),
    DONE.result,
    RUNNING.manifest,
    RUNNING.prepared_image,
    RUNNING.segment(RUN, 0),
}
INTERMEDIATE = {
    DONE.prepared_image,
    DONE.vocals,
    DONE.segment(RUN, 0),
    DONE.segment_last_frame(RUN, 0),
    DONE.quality_tail(RUN, 0),
}
LEFT_IN_INBOX = "inbox/abandoned/face.png"
LATER = timedelta(days=4)
"""How far ahead the tests look: the objects are written now, the rules say 3 days."""
RULES = {"RETENTION_INTERMEDIATE_DAYS": "3", "RETENTION_INBOX_DAYS": "3"}


@pytest.fixture
def bucket(s3_bucket: S3Bucket) -> S3Bucket:
    """A bucket of its own: gc lists whole prefixes, so no other test's objects share it."""
    own = replace(s3_bucket, bucket=f"gc-{uuid.uuid4().hex[:12]}")
    client = sync_s3(own.settings())
    client.create_bucket(Bucket=own.bucket)
    for key in (*KEPT, *INTERMEDIATE, LEFT_IN_INBOX):
        client.put_object(Bucket=own.bucket, Key=key, Body=b"x" * 100)
    return own


def keys(bucket: S3Bucket) -> set[str]:
    listed = sync_s3(bucket.settings()).list_objects_v2(Bucket=bucket.bucket)
    return {item["Key"] for item in listed.get("Contents", [])}


async def gc(bucket: S3Bucket, *args: str, **env: str) -> Result:
    return await asyncio.to_thread(
        CliRunner().invoke, cli, ["gc", *args], env=bucket.env(**env), catch_exceptions=False
    )


async def test_gc_deletes_a_finished_sessions_intermediates_and_inbox_leftovers(
    bucket: S3Bucket,
) -> None:
    settings = bucket.settings(**RULES)
    upload = sync_s3(settings).create_multipart_upload(Bucket=bucket.bucket, Key="inbox/big.wav")

    found = await collect(settings, datetime.now(UTC) + LATER)
    assert {s.key for s in found.expired[INTERMEDIATE_RULE]} == INTERMEDIATE
    assert [s.key for s in found.expired[INBOX_RULE]] == [LEFT_IN_INBOX]
    assert [u.upload_id for u in found.aborted] == [upload["UploadId"]]
    await expire(settings, found, NO_TRANSFER)

    assert keys(bucket) == KEPT
    listed = sync_s3(settings).list_multipart_uploads(Bucket=bucket.bucket)
    assert listed.get("Uploads", []) == []
    # Run again: nothing is left to do, and nothing fails.
    again = await collect(settings, datetime.now(UTC) + LATER)
    assert (again.expired, again.aborted) == ({}, ())


async def test_gc_dry_run_says_what_would_go_and_deletes_nothing(bucket: S3Bucket) -> None:
    now = await gc(bucket, "--json", **RULES)
    assert now.exit_code == 0, now.output
    assert json.loads(now.stdout)["expired"] == {}  # written moments ago

    ahead = await gc(bucket, "--dry-run", "--within", "4d", "--json", **RULES)
    assert ahead.exit_code == 0, ahead.output
    report = json.loads(ahead.stdout)
    assert report["applied"] is False
    assert set(report["expired"][INTERMEDIATE_RULE]["keys"]) == INTERMEDIATE
    assert report["expired"][INTERMEDIATE_RULE]["bytes"] == 100 * len(INTERMEDIATE)
    assert keys(bucket) == KEPT | INTERMEDIATE | {LEFT_IN_INBOX}

    told = await gc(bucket, "--within", "4d", **RULES)
    assert f"{INTERMEDIATE_RULE}: would delete {len(INTERMEDIATE)} objects" in told.stdout
    assert "pass --apply" in told.stdout


async def test_gc_refuses_to_run_without_a_rule_or_to_apply_ahead_of_time(
    bucket: S3Bucket,
) -> None:
    off = await gc(bucket, "--apply", RETENTION_MULTIPART_DAYS="0")
    assert off.exit_code == 2
    assert "no retention rule is set" in off.output
    ahead = await gc(bucket, "--apply", "--within", "4d", **RULES)
    assert ahead.exit_code == 2
    assert "--within" in ahead.output
    assert keys(bucket) == KEPT | INTERMEDIATE | {LEFT_IN_INBOX}
