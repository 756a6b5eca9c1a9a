"""ManagedProcess, the Temporal dev server's persistence, and bucket-event provisioning."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import unquote_plus

import boto3
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from types_boto3_s3.client import S3Client
from types_boto3_sqs.client import SQSClient

from pipeline.cli.context import ExitCode
from pipeline.domain.errors import StartupError
from pipeline.host.processes import group_members, pid_alive
from pipeline.stack import services
from pipeline.stack.process import PORT_RACE_TRIES, ManagedProcess, free_port, start_ready
from pipeline.stack.provision import NOTIFICATION_ID, provision_bucket_events
from pipeline.workflows import attributes
from tests.conftest import TEST_ACCESS_KEY, TEST_REGION

pytestmark = pytest.mark.integration


async def _never_ready() -> bool:
    return False


async def _eventually(predicate: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(10):
        while True:
            if await predicate():
                return
            await asyncio.sleep(0.1)


async def test_stop_terminates_every_process_in_the_group(tmp_path: Path) -> None:
    sleepers = ManagedProcess("sleepers", ["bash", "-c", "sleep 300 & sleep 300"], log_dir=tmp_path)
    sleepers.start()
    assert sleepers.pid is not None
    pgid = sleepers.pid

    async def two_members() -> bool:
        return len(group_members(pgid)) >= 2

    await _eventually(two_members)
    members = group_members(pgid)

    assert await sleepers.stop(timeout=5) == -signal.SIGTERM
    assert [pid for pid in members if pid_alive(pid)] == []
    assert await sleepers.stop() == -signal.SIGTERM


async def test_stop_kills_a_group_that_ignores_sigterm(tmp_path: Path) -> None:
    stubborn = ManagedProcess(
        "stubborn", ["bash", "-c", "trap '' TERM; echo trapped; sleep 300"], log_dir=tmp_path
    )
    stubborn.start()

    async def trapped() -> bool:
        return "trapped" in stubborn.log_tail()

    await _eventually(trapped)

    assert await stubborn.stop(timeout=0.5) == -signal.SIGKILL
    assert stubborn.pid is not None
    assert group_members(stubborn.pid) == []


async def test_wait_ready_reports_an_early_exit_with_the_log_tail(tmp_path: Path) -> None:
    failing = ManagedProcess(
        "failing", ["bash", "-c", "echo 'cannot bind port 1234' >&2; exit 3"], log_dir=tmp_path
    )
    failing.start()
    started = time.monotonic()

    with pytest.raises(StartupError, match="exited early with code 3") as error:
        await failing.wait_ready(_never_ready, timeout=30)

    assert time.monotonic() - started < 5
    assert "cannot bind port 1234" in error.value.log_tail
    assert failing.returncode == 3


def _loses_port_races(tmp_path: Path, losses: int) -> tuple[ManagedProcess, Path]:
    """A server that loses the race for an internal port ``losses`` times, as the Temporal
    dev server does under load, then comes up (writes ``up``)."""
    tries = tmp_path / "tries"
    script = (
        f"n=$(( $(cat {tries} 2>/dev/null || echo 0) + 1 )); echo $n > {tries}; "
        f"if [ $n -le {losses} ]; then "
        'echo \'msg="Failed to start gRPC listener" error="listen tcp 127.0.0.1:39167: '
        "bind: address already in use'; echo panic; exit 2; fi; "
        f"touch {tmp_path / 'up'}; sleep 300"
    )
    return ManagedProcess("racer", ["bash", "-c", script], log_dir=tmp_path), tries


async def test_a_server_that_lost_a_port_race_is_started_again(tmp_path: Path) -> None:
    racer, tries = _loses_port_races(tmp_path, losses=PORT_RACE_TRIES - 1)

    async def up() -> bool:
        return (tmp_path / "up").exists()

    try:
        await start_ready(racer, up, timeout=30)
        assert tries.read_text().strip() == str(PORT_RACE_TRIES)
    finally:
        await racer.stop()


async def test_a_server_that_keeps_losing_port_races_fails_and_other_exits_are_not_retried(
    tmp_path: Path,
) -> None:
    racer, tries = _loses_port_races(tmp_path, losses=PORT_RACE_TRIES)
    with pytest.raises(StartupError, match="exited early with code 2"):
        await start_ready(racer, _never_ready, timeout=30)
    assert tries.read_text().strip() == str(PORT_RACE_TRIES)

    other = ManagedProcess("other", ["bash", "-c", "echo no config >&2; exit 3"], log_dir=tmp_path)
    with pytest.raises(StartupError, match="exited early with code 3"):
        await start_ready(other, _never_ready, timeout=30)
    assert other.log_tail().count("no config") == 1  # started once: not a port race


async def test_wait_ready_times_out_with_the_log_tail(tmp_path: Path) -> None:
    slow = ManagedProcess("slow", ["bash", "-c", "echo warming up; sleep 300"], log_dir=tmp_path)
    slow.start()
    try:
        with pytest.raises(StartupError, match="not ready after") as error:
            await slow.wait_ready(_never_ready, timeout=0.5)
        assert "warming up" in error.value.log_tail
    finally:
        await slow.stop()


async def _start_temporal(state_dir: Path) -> tuple[ManagedProcess, Client]:
    port = free_port()
    server = services.temporal_dev_server(state_dir, port, free_port(), attributes.ALL)
    address = f"127.0.0.1:{port}"
    try:
        await start_ready(server, partial(services.temporal_ready, address), timeout=60)
        return server, await Client.connect(address)
    except BaseException:
        await server.stop()
        raise


async def test_temporal_dev_server_keeps_workflows_across_a_restart(tmp_path: Path) -> None:
    session_id = uuid.uuid4().hex
    workflow_id = f"restart-{session_id}"
    query = f'{attributes.SESSION_ID.name} = "{session_id}"'

    async def listed(client: Client) -> bool:
        return [w.id async for w in client.list_workflows(query)] == [workflow_id]

    server, client = await _start_temporal(tmp_path)
    try:
        # No worker polls this queue, so the workflow stays running across the restart.
        await client.start_workflow(
            "NoWorkerRunsThis",
            id=workflow_id,
            task_queue=f"nobody-{session_id}",
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(attributes.SESSION_ID, session_id)]
            ),
        )
        await _eventually(partial(listed, client))
    finally:
        await server.stop()

    server, client = await _start_temporal(tmp_path)
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        await _eventually(partial(listed, client))
    finally:
        await server.stop()


def _event_keys(sqs: SQSClient, queue_url: str) -> list[str]:
    """Object keys of every S3 event in the queue, draining it; test events are skipped."""
    keys: list[str] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            return keys
        for message in messages:
            body = json.loads(message["Body"])
            if body.get("Event") != "s3:TestEvent":
                keys += [unquote_plus(r["s3"]["object"]["key"]) for r in body["Records"]]
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


@dataclass(frozen=True)
class QueuedBucket:
    """A moto bucket whose inbox manifests notify an SQS queue (the ``sqs`` source's route)."""

    s3: S3Client
    sqs: SQSClient
    bucket: str
    queue_name: str
    queue_url: str


@pytest.fixture
def queued_bucket(moto_server: str) -> QueuedBucket:
    session = boto3.session.Session(
        aws_access_key_id=TEST_ACCESS_KEY,
        aws_secret_access_key=TEST_ACCESS_KEY,
        region_name=TEST_REGION,
    )
    s3 = session.client("s3", endpoint_url=moto_server)
    sqs = session.client("sqs", endpoint_url=moto_server)
    bucket = f"provision-{uuid.uuid4().hex[:12]}"
    queue_url = provision_bucket_events(s3, sqs, bucket=bucket, queue_name=bucket)
    return QueuedBucket(s3, sqs, bucket, bucket, queue_url)


def test_provisioning_routes_only_inbox_manifests_to_the_queue(queued_bucket: QueuedBucket) -> None:
    s3, drop = queued_bucket.s3, uuid.uuid4().hex

    manifest = f"inbox/{drop}/manifest.json"
    for key in (f"inbox/{drop}/a.png", f"other/{drop}/manifest.json", manifest):
        s3.put_object(Bucket=queued_bucket.bucket, Key=key, Body=b"{}")

    keys = [key for key in _event_keys(queued_bucket.sqs, queued_bucket.queue_url) if drop in key]
    assert keys == [manifest]


def test_provisioning_twice_changes_nothing(queued_bucket: QueuedBucket) -> None:
    s3, sqs, bucket = queued_bucket.s3, queued_bucket.sqs, queued_bucket.bucket
    drop = uuid.uuid4().hex

    queue_url = provision_bucket_events(s3, sqs, bucket=bucket, queue_name=queued_bucket.queue_name)
    s3.put_object(Bucket=bucket, Key=f"inbox/{drop}/manifest.json", Body=b"{}")

    assert queue_url == queued_bucket.queue_url
    configuration = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert [q["Id"] for q in configuration["QueueConfigurations"]] == [NOTIFICATION_ID]
    assert [k for k in _event_keys(sqs, queue_url) if drop in k] == [f"inbox/{drop}/manifest.json"]


def test_provisioning_outside_us_east_1_sets_the_bucket_location(moto_server: str) -> None:
    session = boto3.session.Session(
        aws_access_key_id=TEST_ACCESS_KEY, aws_secret_access_key=TEST_ACCESS_KEY
    )
    s3 = session.client("s3", endpoint_url=moto_server, region_name="eu-west-1")
    sqs = session.client("sqs", endpoint_url=moto_server, region_name="eu-west-1")
    bucket = f"pipeline-eu-{uuid.uuid4().hex[:12]}"

    provision_bucket_events(s3, sqs, bucket=bucket, queue_name=f"{bucket}-events")

    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"


async def test_a_command_that_loses_temporal_exits_4_with_nothing_but_json_on_stdout(
    tmp_path: Path,
) -> None:
    """The SDK Core's retry warnings go to stderr as log lines, never into ``--json``."""
    server, client = await _start_temporal(tmp_path)
    address = client.service_client.config.target_host
    try:
        following = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pipeline", "tail", "not-started-yet", "--json",
            env={"TEMPORAL_ADDRESS": address, "PIPELINE_STATE_DIR": str(tmp_path / "cli"),
                 "PATH": ""},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await asyncio.sleep(4)  # it polls Temporal for the session to start
    finally:
        await server.stop()
    out, err = await asyncio.wait_for(following.communicate(), timeout=120)

    assert following.returncode == ExitCode.UNREACHABLE
    assert out == b""
    assert err.decode().splitlines()[-1].startswith(f"error: Temporal at {address} is unreachable")
