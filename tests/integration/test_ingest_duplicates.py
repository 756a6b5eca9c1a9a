"""Duplicate storms across every source at once still make exactly one workflow per drop."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from temporalio.client import Client

from pipeline.domain.drop import DropRef
from pipeline.ingest.r2_queue import R2QueueConsumer
from pipeline.ingest.sqs import SqsConsumer
from pipeline.ingest.webhook import WebhookReceiver
from pipeline.standins.cf_queues_sim import CloudflareQueuesSim
from tests.conftest import TemporalServer
from tests.helpers import eventually, executions
from tests.integration.ingest_support import (
    IngestEnv,
    drop_event,
    ingest_env,
    one_workflow,
    put_manifest,
    queue_depth,
    running,
    session_workflows,
)

pytestmark = pytest.mark.integration

SECRET = "duplicates-secret"


async def storm(env: IngestEnv, sim: CloudflareQueuesSim, url: str, drop: DropRef) -> None:
    """Three copies of the drop's event on each source, interleaved."""
    sqs = env.sqs
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {SECRET}"}) as http:
        for _ in range(3):
            sqs.send_message(QueueUrl=env.settings.event_queue_url, MessageBody=drop_event(drop))
            sim.notify("PutObject", drop.bucket, drop.manifest_key, drop.etag, 40)
            answer = await http.post(url, content=drop_event(drop))
            assert answer.status_code == 200
            await asyncio.sleep(0.02)


async def test_duplicates_and_replays_across_sqs_webhook_and_r2_start_one_workflow(
    moto_server: str, temporal_server: TemporalServer, temporal_client: Client
) -> None:
    env = ingest_env(moto_server, temporal_server, temporal_client)
    sim = CloudflareQueuesSim(account_id="acct", queue_id="events", api_token="token")
    receiver = WebhookReceiver(env.starter, secret=SECRET, host="127.0.0.1", port=0)
    drops = [put_manifest(env, f"storm-{n}") for n in range(2)]

    async with sim.serve() as api_base, receiver.serve() as url:
        r2 = R2QueueConsumer(
            env.starter,
            api_base=api_base,
            account_id="acct",
            queue_id="events",
            api_token="token",
            poll_interval_s=0.05,
        )
        async with running(SqsConsumer(env.settings, env.starter), r2):
            await asyncio.gather(*(storm(env, sim, url, drop) for drop in drops))
            for drop in drops:
                assert await one_workflow(env.client, drop.workflow_id) == 1
            # Replays after the session finished are refused by the server, and acked.
            for drop in drops:
                await env.client.get_workflow_handle(drop.workflow_id).terminate("done")
                await storm(env, sim, url, drop)
            await eventually(lambda: asyncio.to_thread(lambda: queue_depth(env) == 0))
            await eventually(lambda: sim.backlog == 0)

    assert len(sim.acked) == 12
    for drop in drops:
        assert await executions(env.client, drop.workflow_id) == 1
    assert await session_workflows(env) == 2
