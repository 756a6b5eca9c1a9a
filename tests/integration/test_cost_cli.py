"""``pipeline cost`` over records in a real bucket: the window, each run once, the groups."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from temporalio.testing import ActivityEnvironment

from activities.records import RecordActivities
from pipeline.cli.app import cli
from pipeline.domain.contracts import FailureInput, PublishInput
from pipeline.domain.layout import SessionLayout
from pipeline.domain.manifest import Kind, Manifest
from pipeline.domain.records import SessionRecord
from pipeline.domain.rendering import Rendering, SegmentRender
from pipeline.storage import ObjectStore
from tests.conftest import S3Bucket

pytestmark = pytest.mark.integration

PRICES = {"PRICE_GPU_HOUR": "*=3.6"}  # 1 s of GPU: 0.001


def renders(layout: SessionLayout, run: str, *gpu_s: float) -> tuple[SegmentRender, ...]:
    return tuple(
        SegmentRender(
            index=0,
            attempt=attempt,
            seed=attempt,
            key=layout.segment(run, 0),
            rendering=Rendering(
                graph_sha256="0" * 64,
                comfyui_version="0.3.0",
                device="cuda:0 NVIDIA L40S : native",
                worker="gpu-1",
                gpu_s=seconds,
            ),
        )
        for attempt, seconds in enumerate(gpu_s)
    )


def publish(layout: SessionLayout, run: str, preset: str, drop: str, *gpu_s: float) -> PublishInput:
    return PublishInput(
        session_id=layout.session_id,
        workflow_id=f"w-{layout.session_id}-{run}",
        run=run,
        manifest=Manifest(kind=Kind.I2V, image="a.png"),
        inputs={},
        artifacts={"combined": layout.combined(run)},
        timings_s={},
        frames=81,
        duration_s=5.0,
        preset=preset,
        drop_key=f"{drop}manifest.json",
        renders=renders(layout, run, *gpu_s),
    )


@pytest.fixture
async def cost_bucket(s3_bucket: S3Bucket) -> S3Bucket:
    """A bucket of its own on the test SeaweedFS: the report reads every record in it."""
    bucket = dataclasses.replace(s3_bucket, bucket=f"cost-{uuid.uuid4().hex[:8]}")
    client = bucket.session().client("s3", endpoint_url=bucket.endpoint)
    await asyncio.to_thread(client.create_bucket, Bucket=bucket.bucket)
    return bucket


async def put_records(bucket: S3Bucket) -> None:
    a, b, old = (SessionLayout(f"{name}-{uuid.uuid4().hex[:6]}") for name in "abo")
    async with ObjectStore(bucket.settings(**PRICES)) as store:
        records = RecordActivities(store, bucket.settings(**PRICES).prices)
        env = ActivityEnvironment()
        for layout, run in ((a, "r1"), (a, "r2"), (old, "r1")):
            await store.put_bytes(layout.combined(run), b"v" * 100)
        # a: a first run whose segment was re-rendered once, then a rerun.
        await env.run(records.publish_result, publish(a, "r1", "p-a", "inbox/team-a/d1/", 20, 16))
        await env.run(records.publish_result, publish(a, "r2", "p-a", "inbox/team-a/d1/", 72))
        # b: failed after 18 GPU seconds.
        await env.run(
            records.record_failure,
            FailureInput(
                session_id=b.session_id,
                workflow_id=f"w-{b.session_id}",
                stage="generating",
                code="comfy_timeout",
                message="ComfyUI prompt did not finish",
                retryable=True,
                kind="s2v",
                preset="p-b",
                drop_key="inbox/team-b/x/d2/manifest.json",
                renders=renders(b, "r1", 18),
            ),
        )
        # old: finished a month ago, outside a week's window.
        await env.run(records.publish_result, publish(old, "r1", "p-a", "inbox/team-a/d3/", 500))
        record = SessionRecord.model_validate(await store.get_json(old.result))
        month_ago = datetime.now(UTC) - timedelta(days=30)
        runs = [r.model_copy(update={"finished_at": month_ago}) for r in record.runs or []]
        moved = record.model_copy(update={"runs": runs, "finished_at": month_ago})
        await store.put_json(old.result, moved.model_dump(mode="json"))


def run_cost(bucket: S3Bucket, *args: str) -> tuple[int, str]:
    ran = CliRunner().invoke(cli, ["cost", *args], env=bucket.env(), catch_exceptions=False)
    return ran.exit_code, ran.stdout


async def test_cost_sums_each_run_in_the_window_once_by_preset_and_prefix(
    cost_bucket: S3Bucket,
) -> None:
    await put_records(cost_bucket)

    code, out = await asyncio.to_thread(run_cost, cost_bucket, "--since", "7d", "--json")
    assert code == 0, out
    by_preset = json.loads(out)
    assert by_preset["by"] == "preset"
    found = {g["group"]: (g["runs"], g["cost"]["amounts"]["total"]) for g in by_preset["groups"]}
    assert found == {"p-a": (2, 0.108), "p-b": (1, 0.018)}  # two runs: (20+16)+72 s; 18 s
    [every] = by_preset["totals"]
    assert (every["runs"], every["currency"]) == (3, "USD")
    assert every["cost"]["usage"]["gpu_s"] == {"segments": 126.0}
    assert every["cost"]["amounts"]["total"] == 0.126

    code, out = await asyncio.to_thread(
        run_cost, cost_bucket, "--since", "60d", "--by", "prefix", "--json"
    )
    assert code == 0, out
    runs = {g["group"]: g["runs"] for g in json.loads(out)["groups"]}
    assert runs == {"inbox/team-a/": 3, "inbox/team-b/x/": 1}  # the old run is in 60 days

    code, out = await asyncio.to_thread(run_cost, cost_bucket, "--by", "kind")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["group", "runs", "gpu", "s", "cpu", "s", "stored", "GB",
                                "moved", "GB", "cost"]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["i2v"][1:3] == ["2", "108.0"]
    assert rows["i2v"][-2:] == ["0.1080", "USD"]
    assert rows["s2v"][1:3] == ["1", "18.0"]
    assert rows["total"][1:3] == ["3", "126.0"]


def test_a_bad_window_or_grouping_is_one_line_and_exit_2(s3_bucket: S3Bucket) -> None:
    for args, expected in [
        (["--since", "yesterday"], "'yesterday': use 30m, 24h, 7d or an ISO date"),
        (["--by", "gpu"], "'gpu' is not one of 'preset', 'kind', 'prefix'"),
    ]:
        ran = CliRunner().invoke(cli, ["cost", *args], env=s3_bucket.env())
        assert ran.exit_code == 2
        assert expected in ran.stderr
