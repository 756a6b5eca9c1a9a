"""Burst: N manifests PUT at once → N session workflows started, none twice, how fast.

Starts a private embedded stack as ``pipeline up`` runs it (and, unless ``--no-workers``,
its workers), PUTs every manifest concurrently and waits until Temporal lists a workflow
for each. Wall time runs from the first PUT to the last workflow's start; duplicates are
executions beyond one per workflow id. The baseline, from the same run, is the rate at
which the starter alone gets workflows started on this Temporal server. The manifests
name an image nobody uploads, so sessions fail fast on the CPU worker instead of queueing
GPU work.

``--source`` picks the event path: ``seaweedfs`` (the default) is the embedded store's filer
metadata stream read by the stack's own ingest process, exactly as ``pipeline up`` runs it;
the others run their consumer in this process: ``sqs`` with a moto server of its own playing
the bucket and the queue (moto's S3 → SQS notification), ``r2`` and ``webhook`` with each PUT
followed by the message R2 would publish (to the Cloudflare Queues stand-in) or the POST
MinIO would make. Target: 1,000 drops started in ≤ 30 s, 0 duplicates. Ends with one JSON
line of the figures.

    .venv/bin/python -m bench.burst [--drops 1000] [--source seaweedfs|sqs|r2|webhook]
        [--no-workers]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
from temporalio.client import Client

from bench.trigger_sources import SECRET, moto_sqs_route, s3_body
from pipeline.config import Settings
from pipeline.domain.drop import DropRef
from pipeline.ingest.r2_queue import R2QueueConsumer
from pipeline.ingest.source import EventSource
from pipeline.ingest.sqs import SqsConsumer
from pipeline.ingest.starter import Starter
from pipeline.ingest.webhook import WebhookReceiver
from pipeline.stack.embedded import private_settings, stack_config_for
from pipeline.stack.process import free_port
from pipeline.stack.supervisor import Stack
from pipeline.standins.cf_queues_sim import CloudflareQueuesSim
from pipeline.storage import ObjectStore
from pipeline.temporal_client import connect

QUERY = "WorkflowType = 'SessionWorkflow'"
WAIT_LIMIT_S = 600.0
BASELINE_STARTS = 300
Notify = Callable[[DropRef], Awaitable[None]]


async def put_all(
    settings: Settings, drops: int, concurrency: int, notify: Notify
) -> list[DropRef]:
    gate = asyncio.Semaphore(concurrency)
    async with ObjectStore(settings) as store:

        async def put(index: int) -> DropRef:
            key = f"inbox/burst-{index:05d}/manifest.json"
            body = json.dumps({"kind": "i2v", "image": "absent.png", "seed": index})
            async with gate:
                etag = await store.put_bytes(key, body.encode(), "application/json")
                drop = DropRef.of(store.bucket, key, etag)
                await notify(drop)
            return drop

        return await asyncio.gather(*(put(i) for i in range(drops)))


@asynccontextmanager
async def in_process(
    source: str, settings: Settings, client: Client, state: Path
) -> AsyncIterator[tuple[Settings, Notify]]:
    """Run the ``sqs``, ``r2`` or ``webhook`` consumer here; yields the settings to PUT with
    and what follows each PUT."""
    async with AsyncExitStack() as stack:
        if source == "sqs":
            settings = await stack.enter_async_context(moto_sqs_route(settings, state))
        starter = Starter(
            client,
            task_queue=settings.temporal_task_queue,
            gpu_task_queue=settings.temporal_gpu_task_queue,
        )
        consumer: EventSource
        notify: Notify = store_notifies
        if source == "sqs":
            consumer = SqsConsumer(settings, starter)
        elif source == "r2":
            sim = CloudflareQueuesSim(account_id="bench", queue_id="events", api_token=SECRET)
            consumer = R2QueueConsumer(
                starter,
                api_base=await stack.enter_async_context(sim.serve()),
                account_id="bench",
                queue_id="events",
                api_token=SECRET,
                poll_interval_s=settings.r2_poll_interval_s,
            )

            async def publish(drop: DropRef) -> None:
                sim.notify("PutObject", drop.bucket, drop.manifest_key, drop.etag, 64)

            notify = publish

        else:
            consumer = WebhookReceiver(starter, secret=SECRET, host="127.0.0.1", port=free_port())
            url = f"http://127.0.0.1:{consumer.port}/events"
            http = await stack.enter_async_context(
                httpx.AsyncClient(headers={"Authorization": f"Bearer {SECRET}"}, timeout=120)
            )

            async def post(drop: DropRef) -> None:
                (await http.post(url, content=s3_body(drop))).raise_for_status()

            notify = post

        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        await asyncio.sleep(0.5)
        try:
            yield settings, notify
        finally:
            stop.set()
            await task


async def store_notifies(_: DropRef) -> None:
    """The store emits the event itself (SeaweedFS's filer stream, moto's S3 → SQS)."""


async def wait_for_starts(client: Client, count: int) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while (await client.count_workflows(QUERY)).count < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} workflows after {WAIT_LIMIT_S} s")
        await asyncio.sleep(0.2)


async def burst(
    settings: Settings, source: str, drops: int, concurrency: int, state: Path
) -> dict[str, float]:
    client = await connect(settings)
    async with AsyncExitStack() as stack:
        notify: Notify = store_notifies
        if source != "seaweedfs":
            settings, notify = await stack.enter_async_context(
                in_process(source, settings, client, state)
            )
        await asyncio.sleep(2.0)  # workers and ingest connect before the burst
        first_put = time.time()
        expected = await put_all(settings, drops, concurrency, notify)
        puts_done = time.time()
        await wait_for_starts(client, drops)
        await asyncio.sleep(2.0)  # let late duplicates, if any, show up
    runs = [w async for w in client.list_workflows(QUERY)]
    per_id = Counter(run.id for run in runs)
    wall = max(run.start_time.timestamp() for run in runs) - first_put
    baseline = await direct_start_rate(settings, client, BASELINE_STARTS, concurrency)
    return {
        "drops": drops,
        "workflows": len(per_id),
        "duplicates": sum(n - 1 for n in per_id.values()),
        "missing": len({drop.workflow_id for drop in expected} - set(per_id)),
        "put_phase_s": puts_done - first_put,
        "wall_time_s": wall,
        "starts_per_s": drops / wall,
        "baseline_direct_starts_per_s": baseline,
        "ratio_to_direct": drops / wall / baseline,
    }


async def direct_start_rate(
    settings: Settings, client: Client, count: int, concurrency: int
) -> float:
    """Baseline: the Starter called directly, as fast as this Temporal server takes it."""
    starter = Starter(client, task_queue="bench-baseline", gpu_task_queue="unused")
    gate = asyncio.Semaphore(concurrency)

    async def start(index: int) -> None:
        drop = DropRef.of(settings.r2_bucket_name, f"inbox/direct-{index:05d}/manifest.json", "e")
        async with gate:
            await starter.start(drop, source="bench")

    began = time.monotonic()
    await asyncio.gather(*(start(i) for i in range(count)))
    return count / (time.monotonic() - began)


async def main(source: str, drops: int, concurrency: int, workers: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as state:
        settings = private_settings(Path(state))
        config = stack_config_for(settings)
        keep = {"ingest"} if source == "seaweedfs" else set()
        if workers:
            keep |= {"worker-cpu", "worker-gpu"}
        stack = Stack(
            dataclasses.replace(config, children=[c for c in config.children if c.name in keep])
        )
        await stack.start()
        try:
            return await burst(settings, source, drops, concurrency, Path(state))
        finally:
            await stack.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=1000)
    parser.add_argument(
        "--source", choices=["seaweedfs", "sqs", "r2", "webhook"], default="seaweedfs"
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--no-workers", action="store_true", help="leave sessions unrun")
    arguments = parser.parse_args()
    figures = asyncio.run(
        main(arguments.source, arguments.drops, arguments.concurrency, not arguments.no_workers)
    )
    print(f"source {arguments.source}, workers {'off' if arguments.no_workers else 'on'}")
    for name, value in figures.items():
        print(f"{name:>12}: {value:.3f}" if isinstance(value, float) else f"{name:>12}: {value}")
    met = figures["duplicates"] == 0 and figures["missing"] == 0 and figures["wall_time_s"] <= 30
    print("target (all started, 0 duplicates, <= 30 s):", "met" if met else "MISSED")
    print(json.dumps({"source": arguments.source, **figures}))
