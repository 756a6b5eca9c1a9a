from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.domain.drop import (
    DropRef,
    callback_workflow_id,
    rerender_workflow_id,
    rerun_workflow_id,
    session_id_of_workflow,
)
from pipeline.domain.layout import (
    SessionLayout,
    is_manifest_key,
    misplaced_manifest,
    output_name,
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("inbox/d1/manifest.json", True),
        ("inbox/a/b/manifest.json", True),
        ("inbox/manifest.json", False),
        ("inbox/d1/manifest.json.bak", False),
        ("sessions/x/inputs/manifest.json", False),
        ("inbox/d1/image.png", False),
    ],
)
def test_only_inbox_drop_manifests_are_triggers(key: str, expected: bool) -> None:
    assert is_manifest_key(key) is expected


def test_session_layout_places_every_artifact_under_the_session() -> None:
    layout = SessionLayout("s-1")
    keys = [
        layout.manifest,
        layout.input("a.png"),
        layout.prepared_image,
        layout.plan,
        layout.segment("r1", 0),
        layout.segment_last_frame("r1", 0),
        layout.segment_motion_frames("r1", 0),
        layout.quality("r1", 0),
        layout.quality("r1", 0, attempt=1),
        layout.quality_tail("r1", 0),
        layout.combined("r1"),
        layout.result,
        layout.error,
    ]
    assert all(key.startswith("sessions/s-1/") for key in keys)
    assert layout.segment("r1", 12) == "sessions/s-1/generations/r1/segment_012.mp4"
    assert layout.combined("r1") == "sessions/s-1/generations/r1/combined.mp4"
    assert layout.quality("r1", 2) == "sessions/s-1/generations/r1/quality/segment_002.json"
    assert layout.quality("r1", 2, 1) == (
        "sessions/s-1/generations/r1/quality/segment_002.attempt_1.json"
    )
    assert layout.quality_tail("r1", 2) == (
        "sessions/s-1/generations/r1/quality/segment_002_tail.mkv"
    )
    assert len(set(keys)) == len(keys)


def test_previews_live_in_their_runs_preview_folder() -> None:
    layout = SessionLayout("s-1")
    folder = "sessions/s-1/generations/r2/preview/"
    assert layout.preview_segment("r2", 3) == folder + "segment_003.mp4"
    assert layout.preview_poster("r2") == folder + "poster.jpg"
    assert layout.preview_contact_sheet("r2") == folder + "contact_sheet.png"
    # Beside the run's own segments, never one of them.
    assert layout.preview_segment("r2", 3) != layout.segment("r2", 3)


@pytest.mark.parametrize("bad", ["", "a/b", "..", "."])
def test_session_ids_cannot_escape_the_sessions_prefix(bad: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        SessionLayout(bad)


def test_same_upload_gives_the_same_session_and_quotes_do_not_matter() -> None:
    a = DropRef.of("bucket", "inbox/My Drop!/manifest.json", '"ABC123"')
    b = DropRef.of("bucket", "inbox/My Drop!/manifest.json", "abc123")
    assert a.session_id == b.session_id
    assert a.session_id.startswith("my-drop-")
    assert a.workflow_id == "session-" + a.session_id
    assert session_id_of_workflow(a.workflow_id) == a.session_id


def test_a_callback_workflow_names_its_session_and_run() -> None:
    drop = DropRef.of("bucket", "inbox/d-1/manifest.json", "e1")
    run_id = "0f5b8c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b"
    callback = callback_workflow_id(drop.session_id, run_id)
    assert callback == f"callback-{drop.session_id}-{run_id}"
    assert session_id_of_workflow(callback) == drop.session_id


def test_a_changed_manifest_or_other_bucket_is_a_new_session() -> None:
    base = DropRef.of("bucket", "inbox/d/manifest.json", "e1")
    assert base.session_id != DropRef.of("bucket", "inbox/d/manifest.json", "e2").session_id
    assert base.session_id != DropRef.of("other", "inbox/d/manifest.json", "e1").session_id


@given(st.text(min_size=1, max_size=80).filter(lambda s: "/" not in s and s not in (".", "..")))
def test_any_drop_name_gives_a_usable_session_id(name: str) -> None:
    ref = DropRef.of("bucket", f"inbox/{name}/manifest.json", "etag")
    SessionLayout(ref.session_id)  # must not raise
    assert ref.session_id.isascii()
    assert len(ref.session_id) <= 60


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("inbox/manifest.json", "not inside a drop folder"),
        ("inbox/d/MANIFEST.JSON", "not named 'manifest.json'"),
        ("inbox/d/Manifest.json", "not named 'manifest.json'"),
    ],
)
def test_misplaced_manifests_say_what_to_do(key: str, fragment: str) -> None:
    reason = misplaced_manifest(key)
    assert reason is not None
    assert fragment in reason


@pytest.mark.parametrize(
    "key", ["inbox/d/manifest.json", "inbox/d/face.png", "other/manifest.json"]
)
def test_real_manifests_and_media_are_not_misplaced(key: str) -> None:
    assert misplaced_manifest(key) is None


def test_the_same_bytes_uploaded_again_are_a_new_session_every_time() -> None:
    first = DropRef.of("b", "inbox/d/manifest.json", "abc")
    again = first.uploaded_again(datetime(2026, 11, 30, 18, 0, tzinfo=UTC))
    later = first.uploaded_again(datetime(2026, 11, 30, 19, 0, tzinfo=UTC))
    assert len({first.session_id, again.session_id, later.session_id}) == 3
    assert (
        again.session_id
        == DropRef.of("b", "inbox/d/manifest.json", "abc")
        .uploaded_again(datetime(2026, 11, 30, 18, 0, tzinfo=UTC))
        .session_id
    )


def test_a_re_upload_has_one_id_whatever_precision_or_zone_a_source_reads() -> None:
    first = DropRef.of("b", "inbox/d/manifest.json", "abc")
    listed = datetime(2026, 11, 30, 18, 0, 5, 123000, tzinfo=UTC)
    headed = datetime(2026, 11, 30, 19, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    assert first.uploaded_again(listed).session_id == first.uploaded_again(headed).session_id


def test_a_batch_rerun_and_a_rerender_name_the_session_they_run() -> None:
    session = DropRef.of("b", "inbox/my-clip/manifest.json", "e").session_id
    assert session_id_of_workflow(rerun_workflow_id("b20261207a1b2", session)) == session
    stamp = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    assert session_id_of_workflow(rerender_workflow_id(session, stamp)) == session


def test_only_a_runs_outputs_have_an_output_name() -> None:
    layout = SessionLayout("s1")
    named = {
        layout.combined("r2-b1"): "combined",
        layout.preview_poster("r1"): "poster",
        layout.preview_contact_sheet("r1"): "contact_sheet",
        layout.preview_segment("r1", 12): "previews",
    }
    for key, name in named.items():
        assert output_name(key) == name
    never = [
        layout.input("a.png"),
        layout.manifest,
        layout.prepared_image,
        layout.prepared_audio,
        layout.vocals,
        layout.drive_audio,
        layout.plan,
        layout.segment("r1", 0),
        layout.segment_last_frame("r1", 0),
        layout.quality("r1", 0),
        layout.quality_tail("r1", 0),
        layout.result,
        layout.error,
        "inbox/d/a.png",
        "sessions/s1/inputs/generations/r1/combined.mp4",
        "sessions/s1/generations/r1/preview/segment_1.mp4",
        "sessions/s1/generations/r1/extra/combined.mp4",
    ]
    assert [output_name(key) for key in never] == [None] * len(never)
