from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.domain.drop import DropRef
from pipeline.ingest.reconcile import InboxObject, plan_inbox

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(minutes=15)


def obj(key: str, age_min: float = 60, etag: str = '"e1"') -> InboxObject:
    return InboxObject(key, etag, NOW - timedelta(minutes=age_min))


def test_every_manifest_is_a_drop_with_its_listed_etag() -> None:
    plan = plan_inbox(
        [obj("inbox/b/manifest.json", etag='"e2"'), obj("inbox/a/deep/manifest.json")],
        bucket="bkt",
        now=NOW,
        grace=GRACE,
    )
    assert plan.drops == [
        DropRef.of("bkt", "inbox/a/deep/manifest.json", "e1"),
        DropRef.of("bkt", "inbox/b/manifest.json", "e2"),
    ]


def test_media_in_a_drop_folder_or_below_it_are_not_orphans() -> None:
    plan = plan_inbox(
        [obj("inbox/a/manifest.json"), obj("inbox/a/face.png"), obj("inbox/a/sub/voice.wav")],
        bucket="bkt",
        now=NOW,
        grace=GRACE,
    )
    assert plan.orphans == []


def test_media_without_a_manifest_are_orphans_only_after_the_grace_period() -> None:
    plan = plan_inbox(
        [obj("inbox/old/face.png", 16), obj("inbox/new/face.png", 14), obj("inbox/loose.png")],
        bucket="bkt",
        now=NOW,
        grace=GRACE,
    )
    assert plan.orphans == ["inbox/loose.png", "inbox/old/face.png"]
    assert plan.drops == []


def test_a_manifest_in_a_sibling_folder_does_not_adopt_media() -> None:
    plan = plan_inbox(
        [obj("inbox/a/manifest.json"), obj("inbox/ab/face.png")],
        bucket="bkt",
        now=NOW,
        grace=GRACE,
    )
    assert plan.orphans == ["inbox/ab/face.png"]


def test_folder_markers_are_nobodys_media_and_empty_manifests_start_nothing() -> None:
    marker = InboxObject("inbox/a/", '"d41d8cd98f00b204e9800998ecf8427e"', NOW - GRACE * 2, 0)
    empty = InboxObject("inbox/b/manifest.json", '"e0"', NOW - GRACE * 2, 0)
    plan = plan_inbox([marker, empty, obj("inbox/b/face.png")], bucket="bkt", now=NOW, grace=GRACE)
    assert plan.orphans == []
    assert plan.drops == []


def test_misplaced_manifests_are_reported_not_orphaned() -> None:
    plan = plan_inbox(
        [obj("inbox/manifest.json"), obj("inbox/c/MANIFEST.JSON"), obj("inbox/c/face.png")],
        bucket="bkt",
        now=NOW,
        grace=GRACE,
    )
    assert len(plan.misplaced) == 2
    assert any("not inside a drop folder" in reason for reason in plan.misplaced)
    assert plan.orphans == ["inbox/c/face.png"]
    assert plan.drops == []
