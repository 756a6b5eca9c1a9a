"""The Stack supervisor: start order, provisioning, detach helpers and clean shutdown."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

import boto3
import pytest

from pipeline.domain.errors import StartupError
from pipeline.stack import services
from pipeline.stack.process import ManagedProcess, free_port, group_members
from pipeline.stack.provision import NOTIFICATION_ID
from pipeline.stack.state import (
    StackEndpoints,
    pidfile_path,
    read_pidfile,
    ready_file_path,
    stop_detached,
    wait_until_ready,
)
from pipeline.stack.supervisor import ChildSpec, Stack, StackConfig
from pipeline.workflows import attributes

pytestmark = pytest.mark.integration

# Runs a supervisor the way `pipeline up --detach` would: a process of its own.
_SUPERVISOR = """
import asyncio, json, sys
from pathlib import Path
from pipeline.stack.supervisor import ChildSpec, Stack, StackConfig
spec = json.loads(sys.argv[1])
children = [ChildSpec(**child) for child in spec.pop("children")]
config = StackConfig(state_dir=Path(spec.pop("state_dir")), children=children, **spec)
raise SystemExit(asyncio.run(Stack(config).run_foreground()))
"""


def _config(
    state_dir: Path, children: list[ChildSpec], moto_port: int | None = None
) -> StackConfig:
    return StackConfig(
        state_dir=state_dir,
        temporal_port=free_port(),
        ui_port=free_port(),
        moto_port=moto_port or free_port(),
        comfy_port=None,
        bucket="stack-test",
        queue_name="stack-test-events",
        search_attributes=attributes.ALL,
        children=children,
    )


def _detached_supervisor(config: StackConfig) -> ManagedProcess:
    spec = {
        "state_dir": str(config.state_dir),
        "temporal_port": config.temporal_port,
        "ui_port": config.ui_port,
        "moto_port": config.moto_port,
        "comfy_port": config.comfy_port,
        "bucket": config.bucket,
        "queue_name": config.queue_name,
        "search_attributes": dict(config.search_attributes),
        "children": [
            {"name": c.name, "argv": list(c.argv), "env": dict(c.env)} for c in config.children
        ],
    }
    supervisor = ManagedProcess(
        "supervisor",
        [sys.executable, "-c", _SUPERVISOR, json.dumps(spec)],
        log_dir=services.log_dir(config.state_dir),
    )
    supervisor.start()
    return supervisor


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _notification_ids(endpoints: StackEndpoints) -> list[str]:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoints.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="embedded",
        aws_secret_access_key="embedded",
    )
    configuration = s3.get_bucket_notification_configuration(Bucket=endpoints.bucket)
    return [q["Id"] for q in configuration["QueueConfigurations"]]


async def test_detached_stack_is_ready_provisioned_and_stops_on_sigterm(tmp_path: Path) -> None:
    probe = ChildSpec(
        "probe",
        _python("import os, time; print(os.environ['PROBE'], flush=True); time.sleep(300)"),
        env={"PROBE": "hello from the probe"},
    )
    config = _config(tmp_path, [probe])
    supervisor = _detached_supervisor(config)
    try:
        assert supervisor.pid is not None
        endpoints = await wait_until_ready(tmp_path, supervisor.pid, timeout=60)
        groups: dict[str, int] = json.loads(ready_file_path(tmp_path).read_text())["process_groups"]

        assert endpoints.ui_url == f"http://127.0.0.1:{config.ui_port}"
        assert await services.http_ready(endpoints.ui_url)
        assert endpoints.queue_url.endswith("/stack-test-events")
        assert _notification_ids(endpoints) == [NOTIFICATION_ID]
        assert read_pidfile(tmp_path) == supervisor.pid
        assert sorted(groups) == ["moto", "probe", "temporal"]
        async with asyncio.timeout(10):
            while True:
                if "hello from the probe" in (tmp_path / "logs" / "probe.log").read_text():
                    break
                await asyncio.sleep(0.1)

        assert await stop_detached(tmp_path, timeout=30)

        assert supervisor.returncode == 0
        assert {name: group_members(pgid) for name, pgid in groups.items()} == {
            name: [] for name in groups
        }
        assert not pidfile_path(tmp_path).exists()
        assert not ready_file_path(tmp_path).exists()
        assert not await stop_detached(tmp_path)
    finally:
        await supervisor.stop(timeout=30)


async def test_wait_until_ready_reports_a_supervisor_that_fails_to_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = _config(tmp_path, [], moto_port=taken.getsockname()[1])
        supervisor = _detached_supervisor(config)
        try:
            assert supervisor.pid is not None
            with pytest.raises(StartupError, match="supervisor exited") as error:
                await wait_until_ready(tmp_path, supervisor.pid, timeout=60)
        finally:
            await supervisor.stop(timeout=30)

    assert "moto exited early" in error.value.log_tail
    assert supervisor.returncode == 1


async def test_stack_stops_everything_when_a_child_dies(tmp_path: Path) -> None:
    doomed = ChildSpec("doomed", _python("import sys, time; time.sleep(0.5); sys.exit(4)"))
    stack = Stack(_config(tmp_path, [doomed]))

    assert await stack.run_foreground() == 1

    assert [p.name for p in stack.processes] == ["temporal", "moto", "doomed"]
    assert [p.returncode is not None for p in stack.processes] == [True, True, True]
    assert [group_members(p.pid) for p in stack.processes if p.pid] == [[], [], []]
    assert not pidfile_path(tmp_path).exists()


@pytest.mark.parametrize("names", [["worker", "worker"], ["moto"], ["supervisor"]])
def test_child_names_must_not_share_a_log_file(tmp_path: Path, names: list[str]) -> None:
    with pytest.raises(ValueError, match="child names"):
        _config(tmp_path, [ChildSpec(name, _python("pass")) for name in names])
