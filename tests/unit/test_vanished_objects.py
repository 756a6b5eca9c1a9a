"""A missing object is one typed error wherever the store meets it, and a session's own key
that vanished fails the session at once (``activities.edge.session_error``), naming the key;
while a step retries, ``status`` shows its attempt and last failure."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, cast

import pytest
from botocore.exceptions import ClientError
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import ActivityType
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.workflow.v1 import PendingActivityInfo

from activities.edge import session_error, to_application_error
from pipeline.cli.follow import progress_line
from pipeline.cli.session_view import FAILURE_SHOWN, SessionStatus, retrying
from pipeline.config import load_settings
from pipeline.domain.contracts import SessionProgress
from pipeline.domain.errors import (
    NON_RETRYABLE_CODES,
    ExecutionFailed,
    InputDeleted,
    ObjectMissing,
    StorageError,
)
from pipeline.domain.layout import SessionLayout
from pipeline.storage import ObjectStore

LAYOUT = SessionLayout("c19-delete-38053a78b73075fe")


class _Missing:
    """An S3 client whose every call answers ``NoSuchKey``, as S3, R2 and SeaweedFS do."""

    def __getattr__(self, operation: str) -> Callable[..., Awaitable[NoReturn]]:
        async def call(**_: object) -> NoReturn:
            raise ClientError(
                {"Error": {"Code": "NoSuchKey", "Message": "The specified key does not exist."}},
                operation,
            )

        return call


def _store() -> ObjectStore:
    store = ObjectStore(load_settings())
    store._client = cast(Any, _Missing())
    return store


async def _chunks(store: ObjectStore, key: str) -> list[bytes]:
    return [chunk async for chunk in store.stream(key)]


@pytest.mark.parametrize("operation", ["download", "stream", "copy"])
async def test_every_required_read_of_a_missing_key_is_object_missing_naming_it(
    operation: str, tmp_path: Path
) -> None:
    store, key = _store(), LAYOUT.prepared_image
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "download": lambda: store.download(key, tmp_path / "image.jpg"),
        "stream": lambda: _chunks(store, key),
        "copy": lambda: store.copy(key, LAYOUT.generation("r2") + "image.jpg"),
    }

    with pytest.raises(ObjectMissing) as caught:
        await calls[operation]()

    assert caught.value.key == key
    assert caught.value.detail["key"] == key
    assert caught.value.retryable  # by itself: the store cannot tell deleted from not yet
    assert isinstance(caught.value, StorageError)


async def test_asking_whether_a_key_is_there_yet_still_answers_none() -> None:
    store = _store()

    assert await store.head(LAYOUT.prepared_image) is None
    assert await store.get_bytes(LAYOUT.plan) is None
    assert await store.get_json(LAYOUT.result) is None


@pytest.mark.parametrize(
    "key",
    [
        LAYOUT.input("face.png"),
        LAYOUT.prepared_image,
        LAYOUT.drive_audio,
        LAYOUT.plan,
        LAYOUT.segment("r1", 3),
        LAYOUT.segment_last_frame("r1", 0),
        LAYOUT.segment_motion_frames("r1", 2),
        LAYOUT.quality_tail("r1", 1),
    ],
)
def test_a_sessions_own_key_gone_is_input_deleted_not_retried_and_named(key: str) -> None:
    error = session_error(ObjectMissing(key, "get"))

    assert isinstance(error, InputDeleted)
    assert error.message.startswith(f"{key} was deleted while the session ran")
    assert error.detail["key"] == key
    wire = to_application_error(error)
    assert (wire.type, wire.non_retryable) == ("input_deleted", True)
    assert wire.details[0]["key"] == key
    assert "input_deleted" in NON_RETRYABLE_CODES


def test_an_inbox_object_gone_keeps_its_retry_the_drop_may_still_arrive() -> None:
    missing = ObjectMissing("inbox/faces/face.png", "copy")

    error = session_error(missing)

    assert error is missing
    wire = to_application_error(error)
    assert (wire.type, wire.non_retryable) == ("object_missing", False)


def test_other_errors_pass_the_edge_as_they_are() -> None:
    failed = ExecutionFailed("ComfyUI finished prompt p without a video output")
    assert session_error(failed) is failed
    deleted = InputDeleted(LAYOUT.plan, "copy")
    assert session_error(deleted) is deleted


def _pending(attempt: int, failure: Failure | None, name: str = "generate_segment") -> Any:
    pending = PendingActivityInfo(activity_type=ActivityType(name=name), attempt=attempt)
    if failure is not None:
        pending.last_failure.CopyFrom(failure)
    return pending


def _failure(message: str, code: str) -> Failure:
    return Failure(
        message=message, application_failure_info=ApplicationFailureInfo(type=code)
    )


def test_a_first_attempt_is_not_retrying() -> None:
    assert retrying([]) is None
    assert retrying([_pending(1, None)]) is None


def test_a_retrying_step_reports_its_attempt_code_and_last_failure() -> None:
    failure = _failure("comfy-sim fault in KSamplerAdvanced at step 1", "comfy_execution_failed")
    pending = _pending(3, failure)
    later = Timestamp()
    later.FromDatetime(datetime(2026, 12, 6, 12, 0, 10, tzinfo=UTC))
    pending.next_attempt_schedule_time.CopyFrom(later)

    found = retrying([pending])

    assert found is not None
    assert (found.activity, found.attempt, found.code) == (
        "generate_segment",
        3,
        "comfy_execution_failed",
    )
    assert found.message == "comfy-sim fault in KSamplerAdvanced at step 1"
    assert found.next_attempt_at == datetime(2026, 12, 6, 12, 0, 10, tzinfo=UTC)


def test_a_long_failure_is_one_line_cut_to_what_status_shows() -> None:
    found = retrying([_pending(2, _failure("x\n" * 1000, "storage"))])

    assert found is not None
    assert "\n" not in found.message
    assert len(found.message) == FAILURE_SHOWN


def test_the_status_line_shows_the_stage_and_the_retrying_steps_last_failure() -> None:
    failure = _failure("get 'sessions/s/plan.json' failed: SlowDown: slow down", "storage")
    view = SessionStatus(
        session_id="s",
        workflow_id="session-s",
        status="running",
        stage="generating",
        segments_done=0,
        segments_total=16,
        progress=SessionProgress(stage="generating", segments_done=0, segments_total=16),
        retrying=retrying([_pending(5, failure)]),
    )

    assert progress_line(view) == (
        "segment 1/16 · retrying generate_segment (attempt 5), last failure: "
        "storage: get 'sessions/s/plan.json' failed: SlowDown: slow down"
    )
