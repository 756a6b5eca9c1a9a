"""The Stack supervisor: start order, provisioning, restarts, detach helpers and shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from datetime import datetime
from pathlib import Path

import boto3
import pytest
from types_boto3_s3 import S3Client

from pipeline.config import load_settings
from pipeline.doctor.stack import stack_checks
from pipeline.domain.errors import PortInUse, StartupError
from pipeline.host.processes import group_members
from pipeline.stack import services
from pipeline.stack.process import ManagedProcess, free_port
from pipeline.stack.services import COMFYUI_OFFLINE_ENV, ComfyCheckout
from pipeline.stack.state import (
    ProcessTable,
    pidfile_path,
    processes_file_path,
    read_pidfile,
    read_process_table,
    ready_file_path,
    stop_detached,
    wait_until_ready,
)
from pipeline.stack.supervisor import ChildSpec, Stack, StackConfig, check_ports_free
from pipeline.workflows import attributes
from tests.helpers import eventually

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
    state_dir: Path,
    children: list[ChildSpec],
    s3_port: int | None = None,
    poll_timeout: float = StackConfig.poll_timeout,
    comfyui: ComfyCheckout | None = None,
) -> StackConfig:
    return StackConfig(
        state_dir=state_dir,
        temporal_port=free_port(),
        ui_port=free_port(),
        s3_port=s3_port or free_port(),
        filer_port=free_port(),
        filer_grpc_port=free_port(),
        comfy_port=None if comfyui is None else free_port(),
        comfyui=comfyui,
        bucket="stack-test",
        search_attributes=attributes.ALL,
        children=children,
        poll_timeout=poll_timeout,
    )


# A ComfyUI checkout whose main.py takes ComfyUI's flags and serves its protocol with
# comfy-sim (a real one cannot run in CI), noting each launch's flags and environment.
_CHECKOUT_MAIN = """
import argparse, json, os, sys
parser = argparse.ArgumentParser()
for flag in ("--listen", "--port", "--input-directory", "--output-directory",
             "--temp-directory", "--user-directory", "--database-url", "--models-directory"):
    parser.add_argument(flag)
parser.add_argument("--disable-auto-launch", action="store_true")
parser.add_argument("--cpu", action="store_true")
args = parser.parse_args()
launch = {"args": vars(args), "cwd": os.getcwd(), "env": dict(os.environ)}
with open(os.path.join(args.user_directory, "launches.jsonl"), "a") as log:
    log.write(json.dumps(launch) + "\\n")
os.execv(sys.executable, [sys.executable, "-m", "pipeline.standins.comfy_sim", "--host",
         args.listen, "--port", args.port, "--data-dir", args.output_directory])
"""


def _detached_supervisor(config: StackConfig) -> ManagedProcess:
    spec = {
        "state_dir": str(config.state_dir),
        "temporal_port": config.temporal_port,
        "ui_port": config.ui_port,
        "s3_port": config.s3_port,
        "filer_port": config.filer_port,
        "filer_grpc_port": config.filer_grpc_port,
        "comfy_port": config.comfy_port,
        "bucket": config.bucket,
        "search_attributes": dict(config.search_attributes),
        "children": [
            {
                "name": c.name,
                "argv": list(c.argv),
                "env": dict(c.env),
                "restart_with_store": c.restart_with_store,
            }
            for c in config.children
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


def _s3(config: StackConfig) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{config.s3_port}",
        region_name="us-east-1",
        aws_access_key_id="embedded",
        aws_secret_access_key="embedded",
    )


def _table(state_dir: Path) -> ProcessTable:
    table = read_process_table(state_dir)
    assert table is not None
    return table


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
        groups = {name: p.pid for name, p in _table(tmp_path).processes.items()}

        assert endpoints.ui_url == f"http://127.0.0.1:{config.ui_port}"
        assert await services.http_ready(endpoints.ui_url)
        assert endpoints.s3_endpoint == f"http://127.0.0.1:{config.s3_port}"
        assert [b["Name"] for b in _s3(config).list_buckets()["Buckets"]] == ["stack-test"]
        assert read_pidfile(tmp_path) == supervisor.pid
        assert sorted(groups) == ["probe", "seaweedfs", "temporal"]
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
        assert not processes_file_path(tmp_path).exists()
        assert not await stop_detached(tmp_path)
    finally:
        await supervisor.stop(timeout=30)


async def test_wait_until_ready_reports_a_supervisor_that_fails_to_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = _config(tmp_path, [], s3_port=taken.getsockname()[1])
        supervisor = _detached_supervisor(config)
        try:
            assert supervisor.pid is not None
            with pytest.raises(StartupError, match="supervisor exited") as error:
                await wait_until_ready(tmp_path, supervisor.pid, timeout=60)
        finally:
            await supervisor.stop(timeout=30)

    assert f"port {config.s3_port} for SeaweedFS S3" in error.value.log_tail
    assert supervisor.returncode == 1


async def test_a_crashing_child_is_restarted_with_backoff_and_reported(tmp_path: Path) -> None:
    crashing = ChildSpec("crashing", _python("import sys, time; time.sleep(0.2); sys.exit(4)"))
    config = _config(tmp_path, [crashing])
    supervisor = _detached_supervisor(config)
    try:
        assert supervisor.pid is not None
        await wait_until_ready(tmp_path, supervisor.pid, timeout=60)
        await eventually(lambda: _table(tmp_path).processes["crashing"].restarts >= 3)

        record = _table(tmp_path).processes["crashing"]
        log = (tmp_path / "logs" / "supervisor.log").read_text()
        doctor = stack_checks(load_settings(PIPELINE_STATE_DIR=str(tmp_path)))
        assert supervisor.returncode is None
        assert record.last_exit == 4
        assert log.count("process exited unexpectedly") >= 3
        assert '"restart_in_s": 4.0' in log or "restart_in_s=4.0" in log
        assert "process restarted" in log
        assert [check.name for check in doctor] == ["stack processes"]
        assert "crashing restarted" in doctor[0].detail
        assert await stop_detached(tmp_path, timeout=30)
        assert supervisor.returncode == 0
    finally:
        await supervisor.stop(timeout=30)


async def test_a_killed_store_is_restarted_and_provisioned_before_its_consumer(
    tmp_path: Path,
) -> None:
    consumer = ChildSpec(
        "consumer",
        _python("import time; print('consumer up', flush=True); time.sleep(300)"),
        restart_with_store=True,
    )
    config = _config(tmp_path, [consumer])
    supervisor = _detached_supervisor(config)
    try:
        assert supervisor.pid is not None
        await wait_until_ready(tmp_path, supervisor.pid, timeout=60)
        s3 = _s3(config)
        s3.put_object(Bucket="stack-test", Key="kept.txt", Body=b"still here")
        before = _table(tmp_path).processes

        os.killpg(before["seaweedfs"].pid, signal.SIGKILL)
        await eventually(lambda: _table(tmp_path).processes["seaweedfs"].restarts == 1)
        await eventually(lambda: (tmp_path / "logs" / "consumer.log").read_text().count("up") == 2)

        after = _table(tmp_path).processes
        body = s3.get_object(Bucket="stack-test", Key="kept.txt")["Body"].read()
        assert body == b"still here"
        assert after["seaweedfs"].last_exit == -signal.SIGKILL
        assert after["consumer"].pid != before["consumer"].pid
        assert after["temporal"].pid == before["temporal"].pid
        log = (tmp_path / "logs" / "supervisor.log").read_text()
        assert log.index("store provisioned again") < log.rindex("process restarted")

        # The supervisor dies without stopping anyone: `pipeline down` still finds them all.
        os.kill(supervisor.pid, signal.SIGKILL)
        await eventually(lambda: supervisor.returncode is not None)
        assert await stop_detached(tmp_path, timeout=10)
        assert {name: group_members(p.pid) for name, p in after.items()} == {
            name: [] for name in after
        }
        assert not await stop_detached(tmp_path)
    finally:
        await supervisor.stop(timeout=30)


async def test_a_comfyui_checkout_runs_as_a_service_restarted_when_it_dies(tmp_path: Path) -> None:
    checkout = tmp_path / "ComfyUI"
    checkout.mkdir()
    (checkout / "main.py").write_text(_CHECKOUT_MAIN)
    models = tmp_path / "models"
    models.mkdir()
    state = tmp_path / "state"
    config = _config(state, [], comfyui=ComfyCheckout(checkout, sys.executable, models, cpu=True))
    stack = Stack(config)
    endpoints = await stack.start()
    stop = asyncio.Event()
    supervising = asyncio.create_task(stack.supervise(stop))
    launches = state / "comfyui" / "user" / "launches.jsonl"
    try:
        assert endpoints.comfy_url == f"http://127.0.0.1:{config.comfy_port}"
        assert endpoints.comfy_source == str(checkout)
        assert await services.http_ready(f"{endpoints.comfy_url}/system_stats")
        (launch,) = [json.loads(line) for line in launches.read_text().splitlines()]
        folders = {name: str((state / "comfyui" / name).absolute())
                   for name in ("input", "output", "temp", "user")}  # fmt: skip
        assert {k: launch["args"][f"{k}_directory"] for k in folders} == folders
        assert launch["args"]["models_directory"] == str(models)
        assert launch["args"]["listen"] == "127.0.0.1"
        assert launch["args"]["cpu"]
        assert launch["args"]["disable_auto_launch"]
        assert launch["cwd"] == str(checkout)
        assert COMFYUI_OFFLINE_ENV.items() <= launch["env"].items()
        first = _table(state).processes["comfyui"]

        os.killpg(first.pid, signal.SIGKILL)
        await eventually(lambda: _table(state).processes["comfyui"].restarts == 1)

        assert await services.http_ready(f"{endpoints.comfy_url}/system_stats")
        assert len(launches.read_text().splitlines()) == 2
        assert _table(state).processes["comfyui"].last_exit == -signal.SIGKILL
    finally:
        stop.set()
        await supervising
        await stack.stop()
    assert group_members(first.pid) == []


def test_ports_held_by_another_process_are_refused_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse) as refused:
            check_ports_free({free_port(): "free", port: "Temporal (TEMPORAL_ADDRESS)"})

    assert str(refused.value) == (
        f"port {port} for Temporal (TEMPORAL_ADDRESS) is held by another process; "
        "stop it or choose another port"
    )


@pytest.mark.parametrize("names", [["worker", "worker"], ["seaweedfs"], ["supervisor"]])
def test_child_names_must_not_share_a_log_file(tmp_path: Path, names: list[str]) -> None:
    with pytest.raises(ValueError, match="child names"):
        _config(tmp_path, [ChildSpec(name, _python("pass")) for name in names])


async def test_a_held_process_stays_down_until_released_and_is_not_counted_a_crash(
    tmp_path: Path,
) -> None:
    probe = ChildSpec("probe", _python("import time; time.sleep(300)"))
    stack = Stack(_config(tmp_path, [probe]))
    await stack.start()
    stop = asyncio.Event()
    supervising = asyncio.create_task(stack.supervise(stop))
    try:
        process = next(p for p in stack.processes if p.name == "probe")
        first_pid = process.pid
        async with stack.held("probe"):
            assert process.returncode is not None
            # Longer than a watch round plus the first backoff: a crash would be back by now.
            await asyncio.sleep(2.5)
            assert process.returncode is not None
            assert process.pid == first_pid
        assert process.returncode is None
        assert process.pid != first_pid
        assert _table(tmp_path).processes["probe"].restarts == 0
        with pytest.raises(KeyError):
            async with stack.held("nothing-by-this-name"):
                pass
    finally:
        stop.set()
        await supervising
        await stack.stop()


async def test_start_returns_only_once_every_worker_polls(tmp_path: Path) -> None:
    """``pipeline up --detach`` says ready, then a drop: its worker must poll by then."""
    polled = tmp_path / "polled"
    seen: list[datetime] = []

    async def polls(since: datetime) -> bool:
        seen.append(since)
        return polled.exists()

    worker = ChildSpec(
        "worker",
        _python(
            f"import pathlib, time; time.sleep(1.5); pathlib.Path({str(polled)!r}).touch(); "
            "time.sleep(300)"
        ),
        polls=polls,
    )
    before = datetime.now().astimezone()
    stack = Stack(_config(tmp_path, [worker]))
    try:
        await stack.start()
        assert polled.exists()
        assert seen
        assert all(since >= before for since in seen)
    finally:
        await stack.stop()


async def test_a_worker_that_never_polls_fails_the_start_naming_it(tmp_path: Path) -> None:
    async def never(since: datetime) -> bool:
        return False

    worker = ChildSpec(
        "worker-gpu",
        _python("print('waiting for ComfyUI', flush=True); import time; time.sleep(300)"),
        polls=never,
    )
    stack = Stack(_config(tmp_path, [worker], poll_timeout=1.5))
    with pytest.raises(StartupError) as failed:
        await stack.start()

    assert failed.value.name == "worker-gpu"
    assert str(failed.value).startswith(
        "worker-gpu started but polled no task queue within 1.5 s; last log lines:\n"
    )
    assert "waiting for ComfyUI" in failed.value.log_tail
    assert [p.name for p in stack.processes if p.returncode is None] == []
    assert not ready_file_path(tmp_path).exists()
