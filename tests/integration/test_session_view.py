"""A finished session's view: its records from the bucket and a URL for every object."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from pipeline.cli.session_view import SessionStatus, with_records, workflow_id_for
from pipeline.domain.errors import InternalError
from pipeline.domain.layout import SessionLayout
from pipeline.domain.records import ErrorRecord, RunRecord, SessionRecord
from tests.conftest import S3Bucket

pytestmark = pytest.mark.integration


def _finished(session_id: str, status: str) -> SessionStatus:
    return SessionStatus(
        session_id=session_id, workflow_id=workflow_id_for(session_id), status=status
    )


def _result(session_id: str, objects: dict[str, str]) -> SessionRecord:
    return SessionRecord(
        status="succeeded",
        session_id=session_id,
        workflow_id=workflow_id_for(session_id),
        run="r1",
        kind="i2v",
        manifest={"kind": "i2v", "image": "a.png"},
        objects=objects,
        urls={},
        frames=81,
        duration_s=5.06,
        timings_s={},
        versions={},
        finished_at=datetime.now(UTC),
    )


async def test_succeeded_session_gets_its_result_and_presigned_urls(s3_bucket: S3Bucket) -> None:
    session_id = f"view-{uuid.uuid4().hex[:8]}"
    layout = SessionLayout(session_id)
    video = f"sessions/{session_id}/output/final.mp4"
    s3 = s3_bucket.session().client("s3", endpoint_url=s3_bucket.endpoint)
    s3.put_object(Bucket=s3_bucket.bucket, Key=video, Body=b"not really a video")
    result = _result(session_id, {"video": video})
    s3.put_object(
        Bucket=s3_bucket.bucket, Key=layout.result, Body=json.dumps(result.model_dump(mode="json"))
    )

    view = await with_records(_finished(session_id, "succeeded"), s3_bucket.settings())

    assert view.result == result
    assert view.error is None
    assert view.stage == "succeeded"
    assert set(view.urls) == {"video", "result"}
    async with httpx.AsyncClient() as http:
        fetched = await http.get(view.urls["video"])
    assert fetched.content == b"not really a video"
    assert "X-Amz-Signature" in view.urls["video"]


async def test_a_stored_record_off_its_schema_is_one_error_naming_key_and_field(
    s3_bucket: S3Bucket,
) -> None:
    session_id = f"view-{uuid.uuid4().hex[:8]}"
    layout = SessionLayout(session_id)
    stored = _result(session_id, {}).model_dump(mode="json")
    del stored["frames"]
    s3 = s3_bucket.session().client("s3", endpoint_url=s3_bucket.endpoint)
    s3.put_object(Bucket=s3_bucket.bucket, Key=layout.result, Body=json.dumps(stored))

    with pytest.raises(InternalError, match=rf"^{layout.result} does not match .*: frames: "):
        await with_records(_finished(session_id, "succeeded"), s3_bucket.settings())


async def test_a_succeeded_session_counts_the_segments_its_result_lists(
    s3_bucket: S3Bucket,
) -> None:
    session_id = f"view-{uuid.uuid4().hex[:8]}"
    layout = SessionLayout(session_id)
    objects = {f"segment_{i:03d}": layout.segment("r1", i) for i in range(3)}
    objects["combined"] = f"{layout.generation('r1')}combined.mp4"
    s3 = s3_bucket.session().client("s3", endpoint_url=s3_bucket.endpoint)
    s3.put_object(
        Bucket=s3_bucket.bucket,
        Key=layout.result,
        Body=json.dumps(_result(session_id, objects).model_dump(mode="json")),
    )

    view = await with_records(_finished(session_id, "succeeded"), s3_bucket.settings())

    assert (view.segments_done, view.segments_total) == (3, 3)


async def test_status_links_only_the_listed_outputs_publicly_never_an_input(
    s3_bucket: S3Bucket,
) -> None:
    session_id = f"view-{uuid.uuid4().hex[:8]}"
    layout = SessionLayout(session_id)
    objects = {
        "input_image": layout.input("a.png"),
        "prepared_image": layout.prepared_image,
        "prepared_audio": layout.prepared_audio,
        "segment_000": layout.segment("r1", 0),
        "combined": layout.combined("r1"),
        "preview_poster": layout.preview_poster("r1"),
        "preview_contact_sheet": layout.preview_contact_sheet("r1"),
    }
    run = RunRecord(run="r1", status="succeeded", workflow_id="w", combined=layout.combined("r1"))
    result = _result(session_id, objects).model_copy(update={"runs": [run]})
    s3 = s3_bucket.session().client("s3", endpoint_url=s3_bucket.endpoint)
    s3.put_object(Bucket=s3_bucket.bucket, Key=layout.input("a.png"), Body=b"the image")
    s3.put_object(
        Bucket=s3_bucket.bucket, Key=layout.result, Body=json.dumps(result.model_dump(mode="json"))
    )
    settings = s3_bucket.settings(R2_PUBLIC_URL="https://media.example.com/")

    view = await with_records(_finished(session_id, "succeeded"), settings)

    public = {name: url for name, url in view.urls.items() if url.startswith("https://media.")}
    assert public == {
        "combined": f"https://media.example.com/{layout.combined('r1')}",
        "preview_poster": f"https://media.example.com/{layout.preview_poster('r1')}",
    }
    assert sorted(view.public) == sorted(public)
    assert all("X-Amz-Signature" in view.urls[name] for name in set(view.urls) - set(public))
    assert view.expires_at is not None  # the presigned others'
    [listed] = view.runs
    assert (listed.combined_url, listed.expires_at) == (public["combined"], None)
    async with httpx.AsyncClient() as http:
        fetched = await http.get(view.urls["input_image"])
    assert fetched.content == b"the image"  # the operator still gets it, signed


async def test_a_failed_sessions_error_is_presigned_under_the_public_url(
    s3_bucket: S3Bucket,
) -> None:
    session_id = f"view-{uuid.uuid4().hex[:8]}"
    layout = SessionLayout(session_id)
    s3 = s3_bucket.session().client("s3", endpoint_url=s3_bucket.endpoint)
    error = ErrorRecord(
        status="failed",
        session_id=session_id,
        workflow_id=workflow_id_for(session_id),
        stage="intake",
        code="bad_manifest",
        message="manifest.json: kind is required",
        retryable=False,
    )
    s3.put_object(
        Bucket=s3_bucket.bucket, Key=layout.error, Body=json.dumps(error.model_dump(mode="json"))
    )
    settings = s3_bucket.settings(R2_PUBLIC_URL="https://media.example.com/")

    view = await with_records(_finished(session_id, "failed"), settings)

    assert view.error == error
    assert view.result is None
    assert view.stage == "failed"
    assert set(view.urls) == {"error"}
    assert "X-Amz-Signature" in view.urls["error"]  # a record is never public
    assert view.public == []


async def test_status_mints_fresh_urls_from_the_keys_when_the_recorded_ones_expired(
    s3_bucket: S3Bucket,
) -> None:
    session_id = f"view-{uuid.uuid4().hex[:8]}"
    layout = SessionLayout(session_id)
    combined = f"{layout.generation('r1')}combined.mp4"
    s3 = s3_bucket.session().client("s3", endpoint_url=s3_bucket.endpoint)
    s3.put_object(Bucket=s3_bucket.bucket, Key=combined, Body=b"the video")
    signed_long_ago = datetime.now(UTC) - timedelta(days=8)
    dead = s3.generate_presigned_url(  # what result.json kept, dead since a day
        "get_object", Params={"Bucket": s3_bucket.bucket, "Key": combined}, ExpiresIn=60
    ).replace("X-Amz-Date=", f"X-Amz-Date={signed_long_ago:%Y%m%dT%H%M%SZ}&old=")
    result = _result(session_id, {"combined": combined}).model_copy(
        update={
            "urls": {"combined": dead},
            "expires_at": signed_long_ago + timedelta(seconds=60),
            "runs": [
                RunRecord(
                    run="r1",
                    status="succeeded",
                    workflow_id=workflow_id_for(session_id),
                    combined=combined,
                    combined_url=dead,
                    expires_at=signed_long_ago + timedelta(seconds=60),
                )
            ],
        }
    )
    s3.put_object(
        Bucket=s3_bucket.bucket, Key=layout.result, Body=json.dumps(result.model_dump(mode="json"))
    )

    before = datetime.now(UTC)
    view = await with_records(_finished(session_id, "succeeded"), s3_bucket.settings())

    async with httpx.AsyncClient() as http:
        fresh = await http.get(view.urls["combined"])
    assert fresh.content == b"the video"
    assert view.urls["combined"] != dead
    assert view.expires_at is not None
    assert view.expires_at >= before.replace(microsecond=0) + timedelta(days=7)
    [run] = view.runs
    assert run.combined_url != dead
    assert run.expires_at == view.expires_at
    assert view.result is not None
    assert view.result.urls == {"combined": dead}  # the record as stored, its note with it
