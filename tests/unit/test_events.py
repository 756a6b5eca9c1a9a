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


def test_an_empty_manifest_starts_nothing_and_says_why() -> None:
    empty = record("inbox/d/manifest.json", etag="d41d8cd98f00b204e9800998ecf8427e")
    sized = record("inbox/e/manifest.json", etag="abc")
    sized["s3"]["object"]["size"] = 0  # type: ignore[index]
    parsed = parse_s3_notification(json.dumps({"Records": [empty, sized]}))
    assert parsed.drops == []
    assert len(parsed.refused) == 2
    assert "inbox/d/manifest.json is empty" in parsed.refused[0]


@pytest.mark.parametrize("key", ["inbox/manifest.json", "inbox/d/MANIFEST.JSON"])
def test_misplaced_manifests_are_refused_with_a_reason(key: str) -> None:
    parsed = parse_s3_notification(json.dumps({"Records": [record(key)]}))
    assert parsed.drops == []
    assert parsed.refused
    assert key in parsed.refused[0]
