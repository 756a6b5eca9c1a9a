"""Trigger latency: manifest PUT returning → the session workflow started (from its history).

Starts a private embedded stack, makes N drops one after another and reads each
workflow's ``WorkflowExecutionStarted`` time. The baseline, measured in the same run, is
a direct ``start_workflow`` call: the floor any event path adds to. Target: p50 ≤ 0.3 s.

    .venv/bin/python -m bench.trigger [--drops 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from pipeline.config import Settings
from pipeline.domain.contracts import SessionRequest
from pipeline.domain.drop import DropRef
from pipeline.stack.embedded import private_settings, stack_config_for
from pipeline.stack.supervisor import Stack
from pipeline.storage import sync_s3
from pipeline.temporal_client import connect
from pipeline.workflows.session import SessionWorkflow

SPACING_S = 0.05
"""Drops arrive one at a time, so this measures latency, not a burst."""


async def started_at(client: Client, workflow_id: str, within_s: float = 30.0) -> float:
    deadline = time.monotonic() + within_s
    while True:
        try:
            async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                    return event.event_time.ToDatetime().timestamp()
        except Exception:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


async def via_events(settings: Settings, client: Client, drops: int) -> list[float]:
    s3, bucket = sync_s3(settings), settings.r2_bucket_name
    put_times: dict[str, float] = {}
    for i in range(drops):
        # A manifest naming no uploaded image fails fast and non-retryably after it starts,
        # so the bench measures the trigger path without queueing GPU work.
        body = json.dumps({"kind": "i2v", "image": "absent.png", "seed": i}).encode()
        key = f"inbox/bench-{i:04d}/manifest.json"
        response = await asyncio.to_thread(s3.put_object, Bucket=bucket, Key=key, Body=body)
        etag = response["ETag"]
        put_times[DropRef.of(bucket, key, etag).workflow_id] = time.time()
        await asyncio.sleep(SPACING_S)
    return [await started_at(client, wid) - put for wid, put in put_times.items()]


async def direct_starts(settings: Settings, client: Client, count: int) -> list[float]:
    latencies = []
    for i in range(count):
        drop = DropRef.of(settings.r2_bucket_name, f"inbox/direct-{i:04d}/manifest.json", "e")
        before = time.time()
        await client.start_workflow(
            SessionWorkflow.run,
            SessionRequest(drop=drop, session_id=drop.session_id),
            id=drop.workflow_id,
            task_queue=settings.temporal_task_queue,
        )
        latencies.append(await started_at(client, drop.workflow_id) - before)
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(drops: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-trigger-") as state:
        settings = private_settings(Path(state))
        stack = Stack(stack_config_for(settings))
        await stack.start()
        try:
            client = await connect(settings)
            events = await via_events(settings, client, drops)
            direct = await direct_starts(settings, client, max(10, drops // 5))
        finally:
            await stack.stop()
    figures = {
        "drops": drops,
        "p50_s": statistics.median(events),
        "p99_s": percentile(events, 0.99),
        "max_s": max(events),
        "baseline_direct_start_p50_s": statistics.median(direct),
    }
    figures["p50_ratio_to_direct_start"] = figures["p50_s"] / figures["baseline_direct_start_p50_s"]
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=100)
    result = asyncio.run(main(parser.parse_args().drops))
    for name, value in result.items():
        print(f"{name:>28}: {value:.4f}" if isinstance(value, float) else f"{name:>28}: {value}")
    print("target p50 <= 0.3 s:", "met" if result["p50_s"] <= 0.3 else "MISSED")
