"""R2 source: the HTTP pull consumer against the Cloudflare Queues stand-in.

The stand-in plays both Cloudflare Queues (pull, ack, leases, retries, 429) and R2's
notifier (``sim.notify``: the message R2 publishes for an object change).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from structlog.testing import capture_logs
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from pipeline.ingest.r2_queue import R2QueueConsumer
from pipeline.ingest.starter import Starter
from pipeline.stack.seaweedfs import SeaweedPorts
from pipeline.standins.cf_queues_sim import CloudflareQueuesSim
from tests.conftest import TemporalServer
from tests.helpers import eventually
from tests.integration.ingest_support import (
    IngestEnv,
    exists,
    ingest_env,
    one_workflow,
    put_manifest,
    running,
    session_workflows,
)

pytestmark = pytest.mark.integration

TOKEN = "cf-test-token"


@pytest_asyncio.fixture(loop_scope="session")
async def queue() -> AsyncIterator[tuple[CloudflareQueuesSim, str]]:
    sim = CloudflareQueuesSim(account_id="acct0123", queue_id="queue0123", api_token=TOKEN)
    async with sim.serve() as api_base:
        yield sim, api_base


@pytest.fixture
def env(
    seaweedfs: SeaweedPorts, temporal_server: TemporalServer, temporal_client: Client
) -> IngestEnv:
    return ingest_env(seaweedfs.s3_endpoint, temporal_server, temporal_client, with_queue=False)


def consumer(api_base: str, starter: Starter, *, retry_base_s: int = 1) -> R2QueueConsumer:
    return R2QueueConsumer(
        starter,
        api_base=api_base,
        account_id="acct0123",
        queue_id="queue0123",
        api_token=TOKEN,
        poll_interval_s=0.05,
        retry_base_s=retry_base_s,
    )


async def test_a_put_notification_starts_one_workflow_and_is_acked(
    queue: tuple[CloudflareQueuesSim, str], env: IngestEnv
) -> None:
    sim, api_base = queue
    drop = put_manifest(env, "portrait 01")
    message = sim.notify("PutObject", env.bucket, drop.manifest_key, drop.etag, size=60)
    async with running(consumer(api_base, env.starter)):
        await eventually(lambda: message in sim.acked)
    assert await one_workflow(env.client, drop.workflow_id) == 1
    assert sim.backlog == 0


async def test_deletes_media_and_malformed_bodies_are_acked_without_stopping(
    queue: tuple[CloudflareQueuesSim, str], env: IngestEnv
) -> None:
    sim, api_base = queue
    drop = put_manifest(env, "after-noise")
    noise = [
        sim.notify("DeleteObject", env.bucket, "inbox/gone/manifest.json"),
        sim.notify("LifecycleDeletion", env.bucket, "inbox/old/manifest.json"),
        sim.notify("PutObject", env.bucket, "inbox/after-noise/face.png", "abc", 10),
        sim.publish("hello", content_type="text"),
        sim.publish({"action": "PutObject"}),
        sim.publish(b"\x00\x01binary", content_type="bytes"),
    ]
    real = sim.notify("CompleteMultipartUpload", env.bucket, drop.manifest_key, drop.etag, 60)
    with capture_logs() as logs:
        async with running(consumer(api_base, env.starter)):
            await eventually(lambda: sim.backlog == 0)
    assert set(sim.acked) == {*noise, real}
    assert [e["event"] for e in logs].count("r2_message_malformed") == 3
    assert await one_workflow(env.client, drop.workflow_id) == 1
    assert await session_workflows(env) == 1


async def test_a_failed_start_is_retried_with_a_delay_then_acked_once_started(
    queue: tuple[CloudflareQueuesSim, str], env: IngestEnv, temporal_server: TemporalServer
) -> None:
    sim, api_base = queue
    drop = put_manifest(env, "retried")
    message = sim.notify("PutObject", env.bucket, drop.manifest_key, drop.etag, 60)
    nowhere = await Client.connect(
        temporal_server.address,
        namespace="no-such-namespace",
        data_converter=pydantic_data_converter,
    )
    broken = Starter(nowhere, task_queue="unused", gpu_task_queue="unused")
    async with running(consumer(api_base, broken, retry_base_s=1)):
        await eventually(lambda: any(c.action == "ack" for c in sim.calls))
    pending = sim.messages[message]
    assert message not in sim.acked
    assert pending.attempts == 1
    assert pending.visible_at - sim.clock() > 0.5, "went back with the 1 s retry delay"

    async with running(consumer(api_base, env.starter)):
        await eventually(lambda: message in sim.acked)
    assert await one_workflow(env.client, drop.workflow_id) == 1


async def test_a_crash_between_start_and_ack_redelivers_into_the_same_workflow(
    queue: tuple[CloudflareQueuesSim, str], env: IngestEnv
) -> None:
    sim, api_base = queue
    drop = put_manifest(env, "crash")
    message = sim.notify("PutObject", env.bucket, drop.manifest_key, drop.etag, 60)
    # A consumer that pulls with a short lease, starts the session and dies before acking.
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        pulled = await http.post(
            f"{api_base}/accounts/acct0123/queues/queue0123/messages/pull",
            json={"batch_size": 10, "visibility_timeout_ms": 300},
        )
    assert [m["id"] for m in pulled.json()["result"]["messages"]] == [message]
    await env.starter.start(drop, source="r2")

    async with running(consumer(api_base, env.starter)):
        await eventually(lambda: message in sim.acked)
    assert await one_workflow(env.client, drop.workflow_id) == 1
    assert not sim.dead


async def test_a_429_is_honoured_for_as_long_as_retry_after_says(
    queue: tuple[CloudflareQueuesSim, str], env: IngestEnv
) -> None:
    sim, api_base = queue
    drop = put_manifest(env, "throttled")
    sim.notify("PutObject", env.bucket, drop.manifest_key, drop.etag, 60)
    sim.throttle(1, retry_after="1")
    async with running(consumer(api_base, env.starter)):
        await eventually(lambda: exists(env.client, drop.workflow_id))
    limited, after = sim.calls[0], sim.calls[1]
    assert (limited.action, limited.status) == ("pull", 429)
    assert (after.action, after.status) == ("pull", 200)
    assert after.at - limited.at >= 0.95
