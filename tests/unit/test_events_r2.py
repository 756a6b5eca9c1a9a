"""R2 event notifications and Queues pull messages, parsed from the docs' own bodies.

Fixtures: tests/data/events/r2/ (see its README for the doc each body comes from:
https://developers.cloudflare.com/r2/buckets/event-notifications/ and
https://developers.cloudflare.com/queues/configuration/pull-consumers/).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from pipeline.domain.drop import DropRef
from pipeline.domain.errors import MalformedEvent
from pipeline.ingest.events import parse_r2_event, parse_s3_notification
from pipeline.ingest.r2_queue import message_body, retry_after_seconds

EVENTS = Path(__file__).parents[1] / "data" / "events"


def fixture(name: str) -> bytes:
    return (EVENTS / name).read_bytes()


def test_a_put_of_a_manifest_becomes_a_drop_with_its_etag() -> None:
    parsed = parse_r2_event(fixture("r2/put_manifest.json"))
    assert parsed.drops == [
        DropRef.of(
            "my-bucket", "inbox/portrait 01/manifest.json", "c846ff7a18f28c2e262116d6e8719ef0"
        )
    ]


def test_a_completed_multipart_upload_of_a_manifest_is_a_drop_too() -> None:
    parsed = parse_r2_event(fixture("r2/complete_multipart_manifest.json"))
    assert [drop.manifest_key for drop in parsed.drops] == ["inbox/big/manifest.json"]


@pytest.mark.parametrize(
    "name", ["r2/put_object.json", "r2/copy_object.json", "r2/delete_manifest.json"]
)
def test_the_documented_examples_and_deletes_are_ignored_not_malformed(name: str) -> None:
    parsed = parse_r2_event(fixture(name))
    assert parsed.drops == []
    assert len(parsed.ignored) == 1


@pytest.mark.parametrize(
    "body",
    [
        "hello",
        "[]",
        '{"action": "PutObject", "bucket": "b"}',
        '{"action": "PutObject", "bucket": "b", "object": {"size": 1}}',
        '{"action": "PutObject", "bucket": "b", "object": {"key": "inbox/d/manifest.json"}}',
    ],
)
def test_bodies_that_are_not_r2_events_are_malformed(body: str) -> None:
    with pytest.raises(MalformedEvent):
        parse_r2_event(body)


def test_every_source_maps_one_upload_to_the_same_workflow() -> None:
    r2 = parse_r2_event(fixture("r2/put_manifest.json")).drops[0]
    record = {
        "eventName": "s3:ObjectCreated:Put",
        "s3": {
            "bucket": {"name": "my-bucket"},
            "object": {"key": "inbox/portrait+01/manifest.json", "eTag": r2.etag},
        },
    }
    s3 = parse_s3_notification(json.dumps({"Records": [record]})).drops[0]
    assert s3.workflow_id == r2.workflow_id


def test_minio_webhook_bodies_with_s3_prefixed_names_are_drops() -> None:
    parsed = parse_s3_notification(fixture("minio/put_manifest.json"))
    assert [(d.bucket, d.manifest_key) for d in parsed.drops] == [
        ("images", "inbox/my photo/manifest.json")
    ]


def test_pulled_json_bodies_are_base64_decoded_and_plain_json_is_accepted() -> None:
    event = fixture("r2/put_manifest.json")
    encoded = {"body": base64.b64encode(event).decode(), "metadata": {"CF-Content-Type": "json"}}
    plain = {"body": event.decode(), "metadata": {"CF-Content-Type": "json"}}
    text = {"body": event.decode(), "metadata": {"CF-Content-Type": "text"}}
    assert message_body(encoded) == message_body(plain) == message_body(text) == event


def test_the_documented_pull_response_bodies_are_not_events() -> None:
    documented = json.loads(fixture("r2/pull_response.json"))
    for message in documented["result"]["messages"]:
        with pytest.raises(MalformedEvent):
            parse_r2_event(message_body(message))


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert retry_after_seconds("7", now.timestamp()) == 7.0
    assert retry_after_seconds(later, now.timestamp()) == 30.0
    assert retry_after_seconds("soon", now.timestamp()) is None
    assert retry_after_seconds(None, now.timestamp()) is None
