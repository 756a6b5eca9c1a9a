"""The bucket's lifecycle rules as ``pipeline.domain.retention`` builds and compares them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.config import load_settings
from pipeline.domain.errors import ConfigError
from pipeline.domain.layout import INBOX_PREFIX, SESSIONS_PREFIX, SessionLayout, is_intermediate
from pipeline.domain.retention import (
    INBOX_RULE,
    INTERMEDIATE_RULE,
    MULTIPART_RULE,
    SESSIONS_RULE,
    Applied,
    RetentionPolicy,
    Stored,
    Upload,
    describe,
    lifecycle_rules,
    merged,
    outcome,
    sweep,
)


def by_id(rules: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {rule["ID"]: rule for rule in rules}


def test_defaults_only_abort_unfinished_uploads_after_a_day() -> None:
    rules = lifecycle_rules(RetentionPolicy())
    assert [rule["ID"] for rule in rules] == [MULTIPART_RULE]
    assert rules[0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert rules[0]["Filter"] == {"Prefix": ""}


def test_each_number_is_its_rule_and_zero_turns_it_off() -> None:
    rules = by_id(lifecycle_rules(RetentionPolicy(multipart_days=0, inbox_days=7, session_days=90)))
    assert set(rules) == {INBOX_RULE, SESSIONS_RULE}
    assert rules[INBOX_RULE]["Filter"] == {"Prefix": INBOX_PREFIX}
    assert rules[INBOX_RULE]["Expiration"] == {"Days": 7}
    assert rules[SESSIONS_RULE]["Filter"] == {"Prefix": SESSIONS_PREFIX}
    assert rules[SESSIONS_RULE]["Expiration"] == {"Days": 90}
    assert lifecycle_rules(RetentionPolicy(multipart_days=0)) == []


def test_session_rule_covers_every_session_key_and_inbox_rule_none() -> None:
    layout = SessionLayout("s-1")
    keys = [layout.prepared_audio, layout.segment("r", 0), layout.combined("r"), layout.result]
    rules = by_id(lifecycle_rules(RetentionPolicy(inbox_days=3, session_days=30)))
    assert all(key.startswith(rules[SESSIONS_RULE]["Filter"]["Prefix"]) for key in keys)
    assert not any(key.startswith(rules[INBOX_RULE]["Filter"]["Prefix"]) for key in keys)


def test_negative_days_are_refused() -> None:
    with pytest.raises(ValueError, match="inbox_days"):
        RetentionPolicy(inbox_days=-1)


@pytest.mark.parametrize(
    ("variable", "value"), [("RETENTION_INBOX_DAYS", "-1"), ("RETENTION_SESSION_DAYS", "99999")]
)
def test_settings_validate_the_days(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings(**{variable: value})


def test_settings_build_the_policy() -> None:
    settings = load_settings(RETENTION_INBOX_DAYS="5", RETENTION_MULTIPART_DAYS="0")
    assert settings.retention == RetentionPolicy(multipart_days=0, inbox_days=5, session_days=0)


def test_outcome_created_updated_unchanged() -> None:
    wanted = lifecycle_rules(RetentionPolicy(inbox_days=7))
    assert outcome([], wanted) is Applied.CREATED
    assert outcome(wanted, wanted) is Applied.UNCHANGED
    assert outcome(lifecycle_rules(RetentionPolicy(inbox_days=8)), wanted) is Applied.UPDATED
    assert outcome(wanted, []) is Applied.UPDATED
    assert outcome([], []) is Applied.UNCHANGED


def test_outcome_reads_a_store_s_legacy_shape_as_the_same_rule() -> None:
    # A store may answer with the top-level Prefix of the 2006 API and no Filter.
    read_back = [
        {"ID": INBOX_RULE, "Prefix": INBOX_PREFIX, "Status": "Enabled", "Expiration": {"Days": 7}}
    ]
    assert outcome(read_back, lifecycle_rules(RetentionPolicy(0, 7, 0))) is Applied.UNCHANGED


def test_other_rules_are_kept_and_ignored() -> None:
    foreign = {
        "ID": "logs",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 2},
    }
    wanted = lifecycle_rules(RetentionPolicy())
    assert outcome([foreign, *wanted], wanted) is Applied.UNCHANGED
    assert merged([foreign, *lifecycle_rules(RetentionPolicy(5))], wanted) == [foreign, *wanted]


def test_describe_says_what_a_rule_does() -> None:
    rules = by_id(lifecycle_rules(RetentionPolicy(inbox_days=7)))
    assert describe(rules[INBOX_RULE]) == f"{INBOX_RULE}: expire inbox/ after 7 d"
    assert "unfinished after 1 d" in describe(rules[MULTIPART_RULE])


NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
RUN = "20261101T000000Z"


def stored(key: str, days_old: float, size: int = 10) -> Stored:
    return Stored(key, size, NOW - timedelta(days=days_old))


def finished_session(session: str, days_old: float) -> list[Stored]:
    """A session's objects as one run leaves them, all written ``days_old`` days ago."""
    layout = SessionLayout(session)
    keys = [
        layout.manifest,
        layout.input("face.png"),
        layout.prepared_image,
        layout.vocals,
        layout.plan,
        layout.segment(RUN, 0),
        layout.segment_last_frame(RUN, 0),
        layout.quality(RUN, 0),
        layout.quality_tail(RUN, 0),
        layout.combined(RUN),
        layout.preview_poster(RUN),
        layout.result,
    ]
    return [stored(key, days_old) for key in keys]


def test_gc_expires_a_finished_sessions_intermediates_and_keeps_its_video_and_records() -> None:
    layout = SessionLayout("done")
    found = sweep(RetentionPolicy(intermediate_days=3), finished_session("done", 4), [], NOW)
    assert set(found.expired) == {INTERMEDIATE_RULE}
    assert set(found.keys) == {
        layout.prepared_image,
        layout.vocals,
        layout.segment(RUN, 0),
        layout.segment_last_frame(RUN, 0),
        layout.quality_tail(RUN, 0),
    }


def test_gc_keeps_intermediates_younger_than_the_rule_or_of_a_session_still_running() -> None:
    young = finished_session("young", 2)
    running = [s for s in finished_session("running", 30) if not s.key.endswith("result.json")]
    failed = [
        *(s for s in finished_session("failed", 30) if not s.key.endswith("result.json")),
        stored(SessionLayout("failed").error, 30),
    ]
    found = sweep(RetentionPolicy(intermediate_days=3), [*young, *running, *failed], [], NOW)
    assert {key.split("/")[1] for key in found.keys} == {"failed"}


def test_gc_does_what_the_lifecycle_rules_do_on_a_store_without_them() -> None:
    policy = RetentionPolicy(multipart_days=1, inbox_days=7, session_days=90)
    objects = [
        stored(f"{INBOX_PREFIX}old/face.png", 8),
        stored(f"{INBOX_PREFIX}new/face.png", 6),
        *finished_session("ancient", 91),
        *finished_session("recent", 10),
    ]
    uploads = [
        Upload("inbox/big.wav", "u-old", NOW - timedelta(days=2)),
        Upload("inbox/big2.wav", "u-new", NOW - timedelta(hours=3)),
    ]
    found = sweep(policy, objects, uploads, NOW)
    assert found.expired[INBOX_RULE] == (objects[0],)
    assert {s.key for s in found.expired[SESSIONS_RULE]} == {
        s.key for s in finished_session("ancient", 91)
    }
    assert INTERMEDIATE_RULE not in found.expired  # its days are 0: off
    assert [u.upload_id for u in found.aborted] == ["u-old"]


def test_gc_with_every_rule_off_expires_nothing() -> None:
    found = sweep(
        RetentionPolicy(multipart_days=0),
        finished_session("s", 1000),
        [Upload("k", "u", NOW - timedelta(days=1000))],
        NOW,
    )
    assert (found.expired, found.aborted) == ({}, ())


def test_intermediate_files_are_what_a_run_needs_while_it_renders() -> None:
    layout = SessionLayout("s")
    kept = [
        layout.manifest,
        layout.input("voice.wav"),
        layout.plan,
        layout.generation(RUN) + "plan.json",
        layout.quality(RUN, 0, attempt=1),
        layout.combined(RUN),
        layout.preview_segment(RUN, 0),
        layout.preview_contact_sheet(RUN),
        layout.result,
        layout.error,
        f"{INBOX_PREFIX}x/prepared/image.jpg",
    ]
    gone = [
        layout.prepared_audio,
        layout.drive_audio,
        layout.segment(RUN, 2),
        layout.segment_motion_frames(RUN, 1),
    ]
    assert [is_intermediate(key) for key in kept] == [False] * len(kept)
    assert [is_intermediate(key) for key in gone] == [True] * len(gone)
