"""Trigger latency per event source: manifest PUT returning → session workflow started.

Starts a private embedded stack without its ingest process and runs each source's
consumer in this process, one source at a time, with the same drops:

- ``seaweedfs``: the embedded store's filer metadata stream (``weed filer.meta.tail``);
- ``sqs``: moto's real S3 → SQS notification, long-polled (a moto server of its own plays
  the bucket and the queue: SeaweedFS has no bucket notifications);
- ``webhook``: the S3-style event POSTed right after the PUT, as MinIO's webhook does;
- ``r2``: the R2 notification published to the Cloudflare Queues stand-in right after the
  PUT (playing R2), pulled every ``R2_POLL_INTERVAL_S``.

Start times come from each workflow's history. Targets: p50 ≤ 0.3 s for seaweedfs, sqs and
webhook; r2 is bounded by its poll interval. Ends with one JSON line of every p50/p99.

    .venv/bin/python -m bench.trigger_sources [--drops 50] [--r2-poll-interval 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import boto3
import httpx
from pydantic import AnyHttpUrl

from bench.trigger import SPACING_S, percentile, started_at
from pipeline.config import Settings
from pipeline.domain.drop import DropRef
from pipeline.ingest.r2_queue import R2QueueConsumer
from pipeline.ingest.seaweedfs import SeaweedFSSource
from pipeline.ingest.source import EventSource
from pipeline.ingest.sqs import SqsConsumer
from pipeline.ingest.starter import Starter
from pipeline.ingest.webhook import WebhookReceiver
from pipeline.stack import services
from pipeline.stack.embedded import private_settings, stack_config_for
from pipeline.stack.process import free_port
from pipeline.stack.provision import provision_bucket_events
from pipeline.stack.supervisor import Stack
from pipeline.standins.cf_queues_sim import CloudflareQueuesSim
from pipeline.storage import sync_s3
from pipeline.temporal_client import connect

SECRET = "bench-secret"
Notify = Callable[[DropRef], Awaitable[None]]


def s3_body(drop: DropRef) -> str:
    record = {
        "eventName": "s3:ObjectCreated:Put",
        "s3": {
            "bucket": {"name": drop.bucket},
            "object": {"key": drop.manifest_key, "eTag": drop.etag},
        },
    }
    return json.dumps({"EventName": "s3:ObjectCreated:Put", "Records": [record]})


async def measure(settings: Settings, source: str, drops: int, notify: Notify) -> list[float]:
    """PUT ``drops`` manifests one after another; each PUT is followed by ``notify``."""
    s3, bucket = sync_s3(settings), settings.r2_bucket_name
    put_times: dict[str, float] = {}
    for i in range(drops):
        body = json.dumps({"kind": "i2v", "image": "absent.png", "seed": i}).encode()
        key = f"inbox/{source}-{i:04d}/manifest.json"
        etag = (await asyncio.to_thread(s3.put_object, Bucket=bucket, Key=key, Body=body))["ETag"]
        put_times[DropRef.of(bucket, key, etag).workflow_id] = time.time()
        await notify(DropRef.of(bucket, key, etag))
        await asyncio.sleep(SPACING_S)
    client = await connect(settings)
    return [await started_at(client, wid) - put for wid, put in put_times.items()]


async def run_source(
    source: EventSource, work: Callable[[], Awaitable[list[float]]]
) -> list[float]:
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(stop))
    await asyncio.sleep(0.5)  # let the consumer connect before the first drop
    try:
        return await work()
    finally:
        stop.set()
        await task


@asynccontextmanager
async def moto_sqs_route(settings: Settings, state: Path) -> AsyncIterator[Settings]:
    """A moto server whose bucket notifies an SQS queue; ``settings`` moved onto it."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = services.moto_server(state, port)
    moto.start()
    try:
        await moto.wait_ready(lambda: services.http_ready(f"{endpoint}/moto-api/"), 60)
        session = boto3.session.Session(
            aws_access_key_id=settings.r2_access_key_id,
            aws_secret_access_key=settings.r2_secret_access_key.get_secret_value(),
            region_name=settings.r2_region,
        )
        queue_url = provision_bucket_events(
            session.client("s3", endpoint_url=endpoint),
            session.client("sqs", endpoint_url=endpoint),
            bucket=settings.r2_bucket_name,
            queue_name=settings.sqs_queue_name,
        )
        yield settings.model_copy(
            update={
                "r2_endpoint_url": AnyHttpUrl(endpoint),
                "sqs_queue_url": AnyHttpUrl(queue_url),
            }
        )
    finally:
        await moto.stop()


async def sources(
    settings: Settings, drops: int, r2_poll_s: float, state: Path
) -> dict[str, list[float]]:
    client = await connect(settings)
    starter = Starter(
        client,
        task_queue=settings.temporal_task_queue,
        gpu_task_queue=settings.temporal_gpu_task_queue,
    )

    async def nothing(_: DropRef) -> None:
        """The store itself emits the event (filer stream, S3 → SQS notification)."""

    results = {"seaweedfs": await run_source(
        SeaweedFSSource(settings, starter),
        lambda: measure(settings, "seaweedfs", drops, nothing),
    )}  # fmt: skip
    async with moto_sqs_route(settings, state) as on_moto:
        results["sqs"] = await run_source(
            SqsConsumer(on_moto, starter), lambda: measure(on_moto, "sqs", drops, nothing)
        )

    receiver = WebhookReceiver(starter, secret=SECRET, host="127.0.0.1", port=free_port())
    url = f"http://127.0.0.1:{receiver.port}/events"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {SECRET}"}) as http:

        async def post(drop: DropRef) -> None:
            (await http.post(url, content=s3_body(drop))).raise_for_status()

        results["webhook"] = await run_source(
            receiver, lambda: measure(settings, "webhook", drops, post)
        )

    sim = CloudflareQueuesSim(account_id="bench", queue_id="events", api_token=SECRET)
    async with sim.serve() as api_base:

        async def publish(drop: DropRef) -> None:
            sim.notify("PutObject", drop.bucket, drop.manifest_key, drop.etag, 64)

        consumer = R2QueueConsumer(
            starter,
            api_base=api_base,
            account_id="bench",
            queue_id="events",
            api_token=SECRET,
            poll_interval_s=r2_poll_s,
        )
        results["r2"] = await run_source(consumer, lambda: measure(settings, "r2", drops, publish))
    return results


async def main(drops: int, r2_poll_s: float) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="bench-sources-") as state:
        settings = private_settings(Path(state))
        config = stack_config_for(settings)
        # The consumers run in this process instead, one source at a time.
        config = dataclasses.replace(
            config, children=[c for c in config.children if c.name != "ingest"]
        )
        stack = Stack(config)
        await stack.start()
        try:
            latencies = await sources(settings, drops, r2_poll_s, Path(state))
        finally:
            await stack.stop()
    return {
        name: {
            "p50_s": statistics.median(values),
            "p99_s": percentile(values, 0.99),
            "max_s": max(values),
        }
        for name, values in latencies.items()
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=50)
    parser.add_argument("--r2-poll-interval", type=float, default=1.0)
    arguments = parser.parse_args()
    figures = asyncio.run(main(arguments.drops, arguments.r2_poll_interval))
    print(f"{arguments.drops} drops per source; r2 poll interval {arguments.r2_poll_interval} s")
    for name, row in figures.items():
        cells = "  ".join(f"{key} {value:.3f}" for key, value in row.items())
        target = (
            ""
            if name == "r2"
            else ("  target p50 <= 0.3 s: " + ("met" if row["p50_s"] <= 0.3 else "MISSED"))
        )
        print(f"{name:>9}: {cells}{target}")
    print(
        json.dumps(
            {
                f"{name}_{key}": round(value, 4)
                for name, row in figures.items()
                for key, value in row.items()
                if key != "max_s"
            }
        )
    )
