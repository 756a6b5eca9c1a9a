"""Each run's cost in its records: the publish and failure activities against the real store."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.records import RecordActivities
from pipeline.domain.contracts import FailureInput, PublishInput
from pipeline.domain.cost import GpuUse
from pipeline.domain.layout import SessionLayout
from pipeline.domain.manifest import Kind, Manifest
from pipeline.domain.records import ErrorRecord, SessionRecord
from pipeline.domain.rendering import Rendering, SegmentRender
from pipeline.stack.process import free_port
from pipeline.storage import ObjectStore
from pipeline.temporal_client import metrics_runtime
from tests.conftest import S3Bucket

pytestmark = pytest.mark.integration

H100 = "cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync"
PRICES = {"PRICE_GPU_HOUR": "H100=3.6,*=1.8", "PRICE_CPU_HOUR": "0.36", "PRICE_GB_MOVED": "1000"}


def render(
    layout: SessionLayout, run: str, index: int, attempt: int, gpu_s: float
) -> SegmentRender:
    rendering = Rendering(
        graph_sha256="0" * 64, comfyui_version="0.3.0", device=H100, worker="gpu-1", gpu_s=gpu_s
    )
    return SegmentRender(
        index=index,
        attempt=attempt,
        seed=7 + attempt,
        key=layout.segment(run, index),
        rendering=rendering,
    )


def publish(layout: SessionLayout, run: str, renders: list[SegmentRender]) -> PublishInput:
    return PublishInput(
        session_id=layout.session_id,
        workflow_id=f"w-{run}",
        run=run,
        manifest=Manifest(kind=Kind.I2V, image="a.png"),
        inputs={"image": layout.input("a.png")},
        artifacts={"combined": layout.combined(run), "segment_0": layout.segment(run, 0)},
        timings_s={"take_drop": 2.0, "generate_segment": 95.0, "stitch": 8.0},
        frames=81,
        duration_s=5.06,
        preset="wan22-i2v",
        renders=tuple(renders),
        other_gpu=(GpuUse(stage="separation", device="cuda", gpu_s=10.0),),
    )


async def test_each_run_records_its_own_cost_and_the_session_total(s3_bucket: S3Bucket) -> None:
    layout = SessionLayout(f"cost-{uuid.uuid4().hex[:8]}")
    async with ObjectStore(s3_bucket.settings(**PRICES)) as store:
        await store.put_bytes(layout.input("a.png"), b"i" * 1000)
        await store.put_bytes(layout.segment("r1", 0), b"s" * 3000)
        await store.put_bytes(layout.combined("r1"), b"c" * 5000)
        records = RecordActivities(store, s3_bucket.settings(**PRICES).prices)
        env = ActivityEnvironment()
        # r1: segment 0 failed its check once and was rendered again: both attempts count.
        first = [render(layout, "r1", 0, 0, 30.0), render(layout, "r1", 0, 1, 60.0)]
        await env.run(records.publish_result, publish(layout, "r1", first))
        after_first = await store.get_json(layout.result)
        first_record = await store.head(layout.result)
        await store.put_bytes(layout.segment("r2", 0), b"t" * 4000)
        await store.put_bytes(layout.combined("r2"), b"d" * 6000)
        await env.run(
            records.publish_result, publish(layout, "r2", [render(layout, "r2", 0, 0, 18.0)])
        )
        result = SessionRecord.model_validate(await store.get_json(layout.result))

    one = SessionRecord.model_validate(after_first).cost
    assert one is not None
    assert one.usage.gpu_s == {"segments": 90.0, "separation": 10.0}
    assert one.usage.gpu_s_by_class == {"NVIDIA H100 80GB HBM3": 90.0, "cuda": 10.0}
    assert one.usage.cpu_s == 10.0  # take_drop + stitch; generate_segment is GPU time
    assert one.usage.bytes_stored == 9000  # input, segment, combined
    assert one.usage.bytes_moved == 9000  # the objects its record names
    assert one.amounts.gpu == 0.09 + 0.005  # 90 s at 3.6/h, 10 s at the * price 1.8/h
    assert one.amounts.cpu == 0.001
    assert one.amounts.moved == 0.009  # 9000 bytes at 1000 per 10^9 bytes
    assert one.amounts.stored is None
    assert one.unpriced == ["stored"]
    assert one.amounts.total == round(0.095 + 0.001 + 0.009, 6)

    two = result.cost
    assert two is not None
    assert result.runs is not None
    assert [r.cost for r in result.runs] == [one, two]  # each run keeps its own
    assert two.usage.gpu_s == {"segments": 18.0, "separation": 10.0}
    assert first_record is not None
    assert two.usage.bytes_stored == 10000 + first_record.size  # what r2 added, r1's record too
    assert two.usage.bytes_moved == 1000 + 4000 + 6000
    assert result.session_cost is not None
    assert result.session_cost.usage.gpu_s == {"segments": 108.0, "separation": 20.0}
    assert two.amounts.total == round(0.018 + 0.005 + 0.001 + 0.011, 6)
    assert result.session_cost.amounts.total == round(0.105 + 0.035, 6)
    assert result.model_dump(mode="json")["cost"]["currency"] == "USD"


async def test_a_failed_session_counts_the_gpu_time_it_spent(s3_bucket: S3Bucket) -> None:
    layout = SessionLayout(f"costfail-{uuid.uuid4().hex[:8]}")
    async with ObjectStore(s3_bucket.settings()) as store:
        await store.put_bytes(layout.segment("r1", 0), b"s" * 2500)
        renders = (render(layout, "r1", 0, 0, 40.0), render(layout, "r1", 0, 1, 41.0))
        await ActivityEnvironment().run(
            RecordActivities(store).record_failure,
            FailureInput(
                session_id=layout.session_id,
                workflow_id="w-r1",
                stage="generating",
                code="quality_failed",
                message="segment 1 failed its checks twice",
                retryable=False,
                kind="i2v",
                preset="wan22-i2v",
                timings_s={"take_drop": 1.5, "generate_segment": 90.0},
                renders=renders,
            ),
        )
        error = ErrorRecord.model_validate(await store.get_json(layout.error))
    assert error.cost is not None
    assert error.runs is not None
    assert error.cost.usage.gpu_s == {"segments": 81.0}
    assert (error.cost.usage.cpu_s, error.cost.usage.bytes_moved) == (1.5, 2500)
    assert error.cost.amounts.total is None  # no prices set: usage only
    assert error.runs[-1].cost == error.cost


async def test_publishing_counts_gpu_seconds_and_cost_in_prometheus(s3_bucket: S3Bucket) -> None:
    port = free_port()
    runtime = metrics_runtime(s3_bucket.settings(METRICS_PORT=str(port)), "cpu")
    assert runtime is not None
    layout = SessionLayout(f"costmetric-{uuid.uuid4().hex[:8]}")
    async with ObjectStore(s3_bucket.settings(**PRICES)) as store:
        env = ActivityEnvironment()
        env.metric_meter = runtime.metric_meter
        records = RecordActivities(store, s3_bucket.settings(**PRICES).prices)
        await env.run(
            records.publish_result, publish(layout, "r1", [render(layout, "r1", 0, 0, 30.0)])
        )
    async with httpx.AsyncClient() as http:
        scraped = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    gpu = re.search(
        r'pipeline_gpu_seconds_sum\{(?=[^}]*gpu_class="NVIDIA H100 80GB HBM3")(?=[^}]*kind="i2v")'
        r'(?=[^}]*preset="wan22-i2v")[^}]*\} (\S+)',
        scraped,
    )
    assert gpu is not None
    assert float(gpu.group(1)) == 30.0
    cost = re.search(
        r'pipeline_session_cost_sum\{(?=[^}]*currency="USD")(?=[^}]*kind="i2v")[^}]*\} (\S+)',
        scraped,
    )
    assert cost is not None
    assert float(cost.group(1)) > 0
