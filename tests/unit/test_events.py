import json

import pytest

from pipeline.domain.errors import MalformedEvent
from pipeline.ingest.events import parse_s3_notification


def record(key: str, event: str = "ObjectCreated:Put", etag: str = "abc") -> dict[str, object]:
    return {
        "eventName": event,
        "s3": {"bucket": {"name": "b"}, "object": {"key": key, "eTag": etag}},
    }


def test_manifest_put_becomes_a_drop_with_decoded_key() -> None:
    body = json.dumps({"Records": [record("inbox/my+drop%21/manifest.json")]})
    parsed = parse_s3_notification(body)
    assert [d.manifest_key for d in parsed.drops] == ["inbox/my drop!/manifest.json"]
    assert parsed.drops[0].etag == "abc"


def test_test_events_deletes_and_media_are_ignored() -> None:
    assert parse_s3_notification('{"Event": "s3:TestEvent"}').drops == []
    body = json.dumps(
        {
            "Records": [
                record("inbox/d/manifest.json", event="ObjectRemoved:Delete"),
                record("inbox/d/face.png"),
            ]
        }
    )
    parsed = parse_s3_notification(body)
    assert parsed.drops == []
    assert len(parsed.ignored) == 2


@pytest.mark.parametrize(
    "body",
    [
        "nope",
        "[]",
        '{"Records": 3}',
        '{"Records": [{"eventName": "x"}]}',
        json.dumps({"Records": [record("inbox/d/manifest.json", etag="")]}),
    ],
)
def test_malformed_bodies_raise_so_the_consumer_can_drop_them(body: str) -> None:
    with pytest.raises(MalformedEvent):
        parse_s3_notification(body)
