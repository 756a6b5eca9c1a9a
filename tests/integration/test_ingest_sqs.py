"""S3 → SQS source on moto server: real notifications, real redelivery, one workflow."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs
from temporalio.client import Client

from pipeline.ingest.events import parse_s3_notification
from pipeline.ingest.sqs import SqsConsumer
from tests.conftest import TemporalServer
from tests.helpers import eventually
from tests.integration.ingest_support import (
    exists,
    ingest_env,
    one_workflow,
    put_manifest,
    queue_depth,
    running,
    s3_event,
    session_workflows,
)

pytestmark = pytest.mark.integration


async def test_a_crash_between_start_and_delete_redelivers_into_the_same_workflow(
    moto_server: str, temporal_server: TemporalServer, temporal_client: Client
) -> None:
    env = ingest_env(moto_server, temporal_server, temporal_client)
    drop = put_manifest(env, "crash")
    sqs = env.sqs
    # A consumer that receives the event, starts the session and dies before deleting.
    received: list[str] = []
    while not received:
        response = await asyncio.to_thread(
            sqs.receive_message,
            QueueUrl=env.settings.event_queue_url,
            VisibilityTimeout=1,
            WaitTimeSeconds=1,
        )
        for message in response.get("Messages", []):
            if parse_s3_notification(message["Body"]).drops:
                received.append(message["Body"])
    assert parse_s3_notification(received[0]).drops == [drop]
    await env.starter.start(drop, source="sqs")

    async with running(SqsConsumer(env.settings, env.starter)):
        await eventually(lambda: asyncio.to_thread(lambda: queue_depth(env) == 0))

    assert await one_workflow(env.client, drop.workflow_id) == 1


async def test_malformed_bodies_are_logged_and_dropped_without_stopping_the_consumer(
    moto_server: str, temporal_server: TemporalServer, temporal_client: Client
) -> None:
    env = ingest_env(moto_server, temporal_server, temporal_client)
    sqs = env.sqs
    for body in ("not json", '{"Records": 3}', '{"Records": [{"eventName": "x"}]}'):
        sqs.send_message(QueueUrl=env.settings.event_queue_url, MessageBody=body)

    with capture_logs() as logs:
        async with running(SqsConsumer(env.settings, env.starter)):
            drop = put_manifest(env, "after-garbage")
            await eventually(lambda: exists(env.client, drop.workflow_id))
            await eventually(lambda: asyncio.to_thread(lambda: queue_depth(env) == 0))

    assert [e["event"] for e in logs].count("sqs_message_malformed") == 3
    assert await one_workflow(env.client, drop.workflow_id) == 1


async def test_test_events_deletes_and_media_are_deleted_without_starting_anything(
    moto_server: str, temporal_server: TemporalServer, temporal_client: Client
) -> None:
    env = ingest_env(moto_server, temporal_server, temporal_client)
    sqs = env.sqs
    for body in (
        '{"Event": "s3:TestEvent"}',
        s3_event(env.bucket, "inbox/never/manifest.json", "abc", "ObjectRemoved:Delete"),
        s3_event(env.bucket, "inbox/never/face.png", "def"),
        s3_event(env.bucket, "elsewhere/manifest.json", "abc"),
    ):
        sqs.send_message(QueueUrl=env.settings.event_queue_url, MessageBody=body)

    async with running(SqsConsumer(env.settings, env.starter)):
        await eventually(lambda: asyncio.to_thread(lambda: queue_depth(env) == 0))

    assert await session_workflows(env) == 0
