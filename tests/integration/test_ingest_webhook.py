"""Webhook source: MinIO/S3 event POSTs answered 2xx only once the start is durable."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from pipeline.ingest.starter import Starter
from pipeline.ingest.webhook import WebhookReceiver
from pipeline.stack.seaweedfs import SeaweedPorts
from tests.conftest import TemporalServer
from tests.integration.ingest_support import (
    IngestEnv,
    drop_event,
    exists,
    ingest_env,
    one_workflow,
    put_manifest,
    s3_event,
    session_workflows,
)

pytestmark = pytest.mark.integration

SECRET = "shared-secret-for-tests"
MINIO_EVENT = Path(__file__).parents[1] / "data" / "events" / "minio" / "put_manifest.json"


@asynccontextmanager
async def webhook(starter: Starter) -> AsyncIterator[str]:
    receiver = WebhookReceiver(starter, secret=SECRET, host="127.0.0.1", port=0)
    async with receiver.serve() as url:
        yield url


def env_for(endpoint: str, temporal: TemporalServer, client: Client) -> IngestEnv:
    return ingest_env(endpoint, temporal, client, with_queue=False)


def auth(secret: str = SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_a_minio_shaped_post_starts_the_drop_and_answers_200(
    seaweedfs: SeaweedPorts, temporal_server: TemporalServer, temporal_client: Client
) -> None:
    env = env_for(seaweedfs.s3_endpoint, temporal_server, temporal_client)
    drop = put_manifest(env, "my photo")
    document = json.loads(MINIO_EVENT.read_text())
    record = document["Records"][0]["s3"]
    record["bucket"]["name"] = env.bucket
    record["object"]["eTag"] = drop.etag
    async with webhook(env.starter) as url, httpx.AsyncClient() as http:
        response = await http.post(url, json=document, headers=auth())
    assert response.status_code == 200
    assert response.json() == {"started": 1, "ignored": 0}
    # 2xx means durable: the workflow exists before any polling.
    assert await exists(env.client, drop.workflow_id)
    assert await one_workflow(env.client, drop.workflow_id) == 1


async def test_a_bad_secret_is_refused_with_401_and_starts_nothing(
    seaweedfs: SeaweedPorts, temporal_server: TemporalServer, temporal_client: Client
) -> None:
    env = env_for(seaweedfs.s3_endpoint, temporal_server, temporal_client)
    drop = put_manifest(env, "intruder")
    refused = [{}, auth("wrong"), auth(SECRET + "x"), auth(SECRET[:-1]), {"Authorization": SECRET}]
    async with webhook(env.starter) as url, httpx.AsyncClient() as http:
        answers = [
            await http.post(url, content=drop_event(drop), headers=headers) for headers in refused
        ]
    assert [answer.status_code for answer in answers] == [401] * len(refused)
    assert not await exists(env.client, drop.workflow_id)


async def test_malformed_bodies_get_400_and_the_receiver_keeps_serving(
    seaweedfs: SeaweedPorts, temporal_server: TemporalServer, temporal_client: Client
) -> None:
    env = env_for(seaweedfs.s3_endpoint, temporal_server, temporal_client)
    drop = put_manifest(env, "after-garbage")
    with capture_logs() as logs:
        async with webhook(env.starter) as url, httpx.AsyncClient() as http:
            bad = [await http.post(url, content=body, headers=auth()) for body in ("{", "[]")]
            good = await http.post(url, content=drop_event(drop), headers=auth())
    assert [r.status_code for r in bad] == [400, 400]
    assert good.status_code == 200
    assert [e["event"] for e in logs].count("webhook_body_malformed") == 2


async def test_deletes_and_media_are_acknowledged_without_starting_anything(
    seaweedfs: SeaweedPorts, temporal_server: TemporalServer, temporal_client: Client
) -> None:
    env = env_for(seaweedfs.s3_endpoint, temporal_server, temporal_client)
    bodies = [
        s3_event(env.bucket, "inbox/d/manifest.json", "abc", "s3:ObjectRemoved:Delete"),
        s3_event(env.bucket, "inbox/d/face.png", "abc", "s3:ObjectCreated:Put"),
    ]
    async with webhook(env.starter) as url, httpx.AsyncClient() as http:
        answers = [await http.post(url, content=body, headers=auth()) for body in bodies]
    assert [a.json() for a in answers] == [{"started": 0, "ignored": 1}] * 2
    assert await session_workflows(env) == 0


async def test_a_failed_start_answers_503_so_the_sender_retries(
    seaweedfs: SeaweedPorts, temporal_server: TemporalServer, temporal_client: Client
) -> None:
    env = env_for(seaweedfs.s3_endpoint, temporal_server, temporal_client)
    drop = put_manifest(env, "retried")
    nowhere = await Client.connect(
        temporal_server.address,
        namespace="no-such-namespace",
        data_converter=pydantic_data_converter,
    )
    broken = Starter(nowhere, task_queue="unused", gpu_task_queue="unused")
    async with httpx.AsyncClient() as http:
        async with webhook(broken) as url:
            failed = await http.post(url, content=drop_event(drop), headers=auth())
        async with webhook(env.starter) as url:
            retried = await http.post(url, content=drop_event(drop), headers=auth())
    assert failed.status_code == 503
    assert retried.status_code == 200
    assert await one_workflow(env.client, drop.workflow_id) == 1
