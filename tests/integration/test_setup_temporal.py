"""``pipeline setup temporal`` on a namespace that has nothing yet, then again; then
``pipeline setup schedules`` alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from pipeline.config import Settings
from pipeline.ingest.schedule import RECONCILE_SCHEDULE_ID
from pipeline.stack.embedded import settings_env
from pipeline.workflows import attributes
from tests.conftest import S3Bucket, TemporalServer
from tests.helpers import eventually

pytestmark = pytest.mark.integration


def setup_cli(settings: Settings, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "setup", *args],
        env={**os.environ, **settings_env(settings)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def setup_temporal(settings: Settings) -> dict[str, dict[str, str]]:
    applied: dict[str, dict[str, str]] = json.loads(setup_cli(settings, "temporal", "--json"))
    return applied


async def test_setup_creates_search_attributes_and_the_schedule_then_changes_nothing(
    s3_bucket: S3Bucket, temporal_server: TemporalServer, temporal_client: Client
) -> None:
    namespace = f"setup-{uuid.uuid4().hex[:8]}"
    await temporal_client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace,
            workflow_execution_retention_period=Duration(
                seconds=int(timedelta(days=1).total_seconds())
            ),
        )
    )
    settings = s3_bucket.settings(
        TEMPORAL_ADDRESS=temporal_server.address, TEMPORAL_NAMESPACE=namespace
    )

    async def registered() -> bool:
        try:
            await Client.connect(temporal_server.address, namespace=namespace)
        except RuntimeError:
            return False
        return True

    await eventually(registered, within_s=30)
    first = setup_temporal(settings)
    second = setup_temporal(settings)
    alone = setup_cli(settings, "schedules")

    assert first["search_attributes"] == {name: "created" for name in attributes.ALL}
    assert second["search_attributes"] == {name: "present" for name in attributes.ALL}
    assert first["schedules"] == {RECONCILE_SCHEDULE_ID: "created"}
    assert second["schedules"] == {RECONCILE_SCHEDULE_ID: "updated"}
    assert alone.startswith(f"{RECONCILE_SCHEDULE_ID}: updated (every ")
