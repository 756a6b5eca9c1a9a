"""Every run of a session in its records: a rerun's outcome never replaces an earlier one."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from temporalio.testing import ActivityEnvironment

from activities.records import RecordActivities
from pipeline.domain.contracts import FailureInput, PublishInput
from pipeline.domain.layout import SessionLayout
from pipeline.domain.manifest import Kind, Manifest
from pipeline.domain.records import SessionRecord
from pipeline.storage import ObjectStore
from tests.conftest import S3Bucket

pytestmark = pytest.mark.integration

PUBLIC = "https://media.example.com/"


def publish(session_id: str, run: str, changed: dict[str, object]) -> PublishInput:
    layout = SessionLayout(session_id)
    return PublishInput(
        session_id=session_id,
        workflow_id=f"w-{run}",
        run=run,
        manifest=Manifest(kind=Kind.I2V, image="a.png"),
        inputs={"image": layout.input("a.png")},
        artifacts={"combined": layout.combined(run), "plan": layout.plan},
        timings_s={},
        frames=81,
        duration_s=5.06,
        changed=changed,
    )


async def test_runs_accumulate_and_a_failed_rerun_leaves_the_result_in_place(
    s3_bucket: S3Bucket,
) -> None:
    session_id = f"runs-{uuid.uuid4().hex[:8]}"
    layout = SessionLayout(session_id)
    async with ObjectStore(s3_bucket.settings()) as store:
        for key in (layout.input("a.png"), layout.plan, layout.combined("r1")):
            await store.put_bytes(key, b"x")
        await store.put_bytes(layout.combined("r2-b1"), b"y")
        records = RecordActivities(store)
        env = ActivityEnvironment()

        await env.run(records.publish_result, publish(session_id, "r1", {}))
        await store.put_bytes(layout.plan, b"replanned by the rerun")
        await env.run(records.publish_result, publish(session_id, "r2-b1", {"steps": 6}))
        failed = await env.run(
            records.record_failure,
            FailureInput(
                session_id=session_id,
                workflow_id="w-r3",
                stage="generating",
                code="comfy_timeout",
                message="ComfyUI prompt did not finish",
                retryable=True,
                run="r3-b2",
                changed={"steps": 8},
            ),
        )
        stored = await store.get_json(layout.result)
        error = await store.get_json(layout.error)
        kept_plan = await store.get_bytes(layout.generation("r1") + "plan.json")

    assert failed.key == layout.result
    assert error is None
    result = SessionRecord.model_validate(stored)
    assert result.model_dump(mode="json") == stored  # What is written is the record, whole.
    assert (result.status, result.run) == ("succeeded", "r2-b1")
    assert result.runs is not None
    assert [(r.run, r.status, r.changed) for r in result.runs] == [
        ("r1", "succeeded", {}),
        ("r2-b1", "succeeded", {"steps": 6}),
        ("r3-b2", "failed", {"steps": 8}),
    ]
    assert result.runs[1].combined == layout.combined("r2-b1")
    assert kept_plan == b"x"  # The first run's plan, as it rendered it.


async def test_a_published_result_notes_when_its_presigned_urls_stop_working(
    s3_bucket: S3Bucket,
) -> None:
    session_id = f"expiry-{uuid.uuid4().hex[:8]}"
    layout = SessionLayout(session_id)
    settings = s3_bucket.settings(PRESIGN_EXPIRY_S="3600")
    async with ObjectStore(settings) as store:
        for key in (layout.input("a.png"), layout.plan, layout.combined("r1")):
            await store.put_bytes(key, b"x")
        before = datetime.now(UTC).replace(microsecond=0)
        published = await ActivityEnvironment().run(
            RecordActivities(store).publish_result, publish(session_id, "r1", {})
        )
        result = SessionRecord.model_validate(await store.get_json(layout.result))

    assert result.expires_at is not None
    assert published.expires_at == result.expires_at
    assert result.runs is not None
    assert result.runs[-1].expires_at == result.expires_at
    for url in result.urls.values():  # What each URL was signed for, read back from it.
        query = parse_qs(urlsplit(url).query)
        assert query["X-Amz-Expires"] == ["3600"]
        signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        stops = signed + timedelta(seconds=3600)
        assert stops - timedelta(seconds=1) <= result.expires_at <= stops
    assert before + timedelta(seconds=3600) <= result.expires_at
    assert set(result.objects) == set(result.urls)  # The keys that outlast every URL.


async def test_only_the_listed_outputs_are_public_and_no_input_is(s3_bucket: S3Bucket) -> None:
    session_id = f"public-{uuid.uuid4().hex[:8]}"
    layout = SessionLayout(session_id)
    settings = s3_bucket.settings(R2_PUBLIC_URL=PUBLIC)  # PUBLIC_OUTPUTS: its default
    request = publish(session_id, "r1", {})
    request = request.model_copy(
        update={"artifacts": {**request.artifacts, "prepared_image": layout.prepared_image}}
    )
    async with ObjectStore(settings) as store:
        for key in (layout.input("a.png"), layout.plan, layout.combined("r1")):
            await store.put_bytes(key, b"x")
        before = datetime.now(UTC).replace(microsecond=0)
        published = await ActivityEnvironment().run(RecordActivities(store).publish_result, request)
        stored = await store.get_json(layout.result)
    result = SessionRecord.model_validate(stored)

    # Every public link anywhere in result.json: the combined video's, nothing else.
    assert set(re.findall(rf"{re.escape(PUBLIC)}[^\"]*", json.dumps(stored))) == {
        f"{PUBLIC}{layout.combined('r1')}"
    }
    assert (result.public, published.public) == (["combined"], ["combined"])
    for name in ("input_image", "prepared_image", "plan"):
        assert "X-Amz-Signature" in result.urls[name]
        assert "X-Amz-Signature" in published.urls[name]
    assert "X-Amz-Signature" in published.urls["result"]
    assert result.expires_at is not None
    assert before + timedelta(days=7) <= result.expires_at == published.expires_at
    assert result.runs is not None
    assert result.runs[-1].expires_at is None  # its combined_url is the public one
