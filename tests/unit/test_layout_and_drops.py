import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.domain.drop import DropRef, session_id_of_workflow
from pipeline.domain.errors import ManifestError
from pipeline.domain.layout import SessionLayout, drop_name, is_manifest_key, media_key


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


def test_media_keys_resolve_inside_the_drop_folder() -> None:
    assert media_key("inbox/d1/manifest.json", "img/face.png") == "inbox/d1/img/face.png"
    assert drop_name("inbox/d1/manifest.json") == "d1"
    with pytest.raises(ManifestError):
        media_key("inbox/d1/manifest.json", "../d2/face.png")


def test_session_layout_places_every_artifact_under_the_session() -> None:
    layout = SessionLayout("s-1")
    keys = [
        layout.manifest,
        layout.input("a.png"),
        layout.prepared_image,
        layout.plan,
        layout.segment("r1", 0),
        layout.segment_last_frame("r1", 0),
        layout.combined("r1"),
        layout.result,
        layout.error,
    ]
    assert all(key.startswith("sessions/s-1/") for key in keys)
    assert layout.segment("r1", 12) == "sessions/s-1/generations/r1/segment_012.mp4"
    assert layout.combined("r1") == "sessions/s-1/generations/r1/combined.mp4"
    assert len(set(keys)) == len(keys)


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
