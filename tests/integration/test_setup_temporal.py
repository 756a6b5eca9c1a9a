"""`pipeline setup temporal` readies a bare namespace: search attributes and the schedule."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from pipeline.ingest.schedule import RECONCILE_SCHEDULE_ID
from pipeline.stack import services
from pipeline.stack.process import free_port
from pipeline.workflows import attributes

pytestmark = pytest.mark.integration


def setup_temporal(address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "setup", "temporal"],
        env={**os.environ, "TEMPORAL_ADDRESS": address, "LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_setup_registers_every_attribute_once_and_applies_the_schedule(
    tmp_path: Path,
) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    bare = services.temporal_dev_server(tmp_path, port, free_port(), {})  # As a real cluster.
    bare.start()
    try:
        await bare.wait_ready(partial(services.temporal_ready, address), timeout=60)

        first = setup_temporal(address)
        again = setup_temporal(address)

        client = await Client.connect(address)
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        schedule = await client.get_schedule_handle(RECONCILE_SCHEDULE_ID).describe()
    finally:
        await bare.stop()
    assert first.returncode == 0, first.stderr[-2000:]
    assert "search attributes added to default: " in first.stdout
    assert f"{RECONCILE_SCHEDULE_ID}: created" in first.stdout
    assert set(attributes.ALL) <= set(listed.custom_attributes)
    assert f"all {len(attributes.ALL)} present" in again.stdout
    assert f"{RECONCILE_SCHEDULE_ID}: updated" in again.stdout
    assert schedule.id == RECONCILE_SCHEDULE_ID
