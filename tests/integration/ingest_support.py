"""Shared set-up of the ingest tests: a bucket of their own, a starter, running sources.

Each test gets a fresh bucket on the session's SeaweedFS (or, for the ``sqs`` source, on moto
with its own notification → SQS queue), and a starter whose sessions go to a task queue no
worker polls: the tests count workflows, they do not run them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import boto3
from temporalio.client import Client
from temporalio.service import RPCError

from pipeline.config import Settings, load_settings
from pipeline.domain.drop import DropRef
from pipeline.ingest.source import EventSource
from pipeline.ingest.starter import Starter
from pipeline.stack.provision import provision_bucket_events
from tests.conftest import TEST_ACCESS_KEY, TEST_REGION, TemporalServer
from tests.helpers import eventually, executions

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_sqs import SQSClient


@dataclass(frozen=True)
class IngestEnv:
    settings: Settings
    client: Client
    starter: Starter

    @property
    def bucket(self) -> str:
        return self.settings.r2_bucket_name

    @property
    def s3(self) -> S3Client:
        return _clients(self.settings.s3_endpoint)[0]

    @property
    def sqs(self) -> SQSClient:
        return _clients(self.settings.s3_endpoint)[1]


def ingest_env(
    endpoint: str,
    temporal: TemporalServer,
    client: Client,
    *,
    with_queue: bool = True,
    **overrides: Any,
) -> IngestEnv:
    """A fresh bucket at the S3 ``endpoint``; with ``with_queue`` (moto only) its inbox
    manifests are routed to a fresh SQS queue."""
    name = f"ingest-{uuid.uuid4().hex[:12]}"
    s3, sqs = _clients(endpoint)
    if with_queue:
        queue_url = provision_bucket_events(s3, sqs, bucket=name, queue_name=name)
        overrides.setdefault("SQS_QUEUE_URL", queue_url)
    else:
        s3.create_bucket(Bucket=name)
    settings = load_settings(
        R2_ENDPOINT_URL=endpoint,
        R2_BUCKET_NAME=name,
        R2_ACCESS_KEY_ID=TEST_ACCESS_KEY,
        R2_SECRET_ACCESS_KEY=TEST_ACCESS_KEY,
        R2_REGION=TEST_REGION,
        TEMPORAL_ADDRESS=temporal.address,
        TEMPORAL_TASK_QUEUE=f"sessions-{name}",
        TEMPORAL_GPU_TASK_QUEUE=f"gpu-{name}",
        **overrides,
    )
    starter = Starter(
        client,
        task_queue=settings.temporal_task_queue,
        gpu_task_queue=settings.temporal_gpu_task_queue,
    )
    return IngestEnv(settings=settings, client=client, starter=starter)


@cache
def _clients(endpoint: str) -> tuple[S3Client, SQSClient]:
    """One pair of clients per server: building boto3 clients is slow."""
    session = boto3.session.Session(
        aws_access_key_id=TEST_ACCESS_KEY,
        aws_secret_access_key=TEST_ACCESS_KEY,
        region_name=TEST_REGION,
    )
    return session.client("s3", endpoint_url=endpoint), session.client("sqs", endpoint_url=endpoint)


def put_manifest(env: IngestEnv, drop: str, manifest: dict[str, Any] | None = None) -> DropRef:
    """Upload ``inbox/{drop}/manifest.json`` (naming an image nobody uploads)."""
    key = f"inbox/{drop}/manifest.json"
    body = json.dumps(manifest or {"kind": "i2v", "image": "absent.png"}).encode()
    etag = env.s3.put_object(Bucket=env.bucket, Key=key, Body=body)["ETag"]
    return DropRef.of(env.bucket, key, etag)


def s3_event(bucket: str, key: str, etag: str, event_name: str = "ObjectCreated:Put") -> str:
    """The S3 notification body S3, moto and MinIO send when ``key`` changes."""
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": event_name,
        "s3": {
            "bucket": {"name": bucket},
            "object": {"key": quote_plus(key, safe="/"), "eTag": etag},
        },
    }
    return json.dumps({"Records": [record]})


def drop_event(drop: DropRef) -> str:
    return s3_event(drop.bucket, drop.manifest_key, drop.etag)


async def session_workflows(env: IngestEnv) -> int:
    """Workflows started on this test's session task queue, whatever their id."""
    query = f"TaskQueue = '{env.settings.temporal_task_queue}'"
    return len([w async for w in env.client.list_workflows(query)])


def queue_depth(env: IngestEnv) -> int:
    """Messages in the SQS queue, visible or in flight."""
    attributes = env.sqs.get_queue_attributes(
        QueueUrl=env.settings.event_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


async def exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return False
    return True


async def one_workflow(client: Client, workflow_id: str) -> int:
    """Wait for the workflow, then count its executions (visibility lags a little)."""
    await eventually(lambda: exists(client, workflow_id))
    await eventually(lambda: _listed(client, workflow_id))
    return await executions(client, workflow_id)


async def _listed(client: Client, workflow_id: str) -> bool:
    return await executions(client, workflow_id) > 0


@asynccontextmanager
async def running(*sources: EventSource) -> AsyncIterator[None]:
    """Run the sources in this loop; stop them and surface their errors on exit."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(source.run(stop)) for source in sources]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)
