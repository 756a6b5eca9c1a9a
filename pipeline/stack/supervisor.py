"""``Stack``: the embedded services plus the caller's workers, started and stopped as one.

Start order: Temporal, moto and comfy-sim in parallel; once all answer, the bucket, queue
and event notification are provisioned; then the children (workers, ingest consumer).
Stop order is the reverse, each process by its process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import boto3

from pipeline.config import (
    EMBEDDED_COMFY_PORT,
    EMBEDDED_S3_PORT,
    EMBEDDED_TEMPORAL_PORT,
    EMBEDDED_UI_PORT,
)
from pipeline.logging import get_logger
from pipeline.shutdown import stop_on_signals
from pipeline.stack import services
from pipeline.stack.process import ManagedProcess
from pipeline.stack.provision import provision_bucket_events
from pipeline.stack.state import (
    ReadyRecord,
    StackEndpoints,
    read_pidfile,
    ready_file_path,
    remove_pidfile,
    write_pidfile,
    write_ready_file,
)

_WATCH_S = 0.5
RESERVED_NAMES = frozenset({"temporal", "moto", "comfy-sim", "supervisor"})

log = get_logger()


@dataclass(frozen=True)
class ChildSpec:
    """A process the stack runs after its services are ready.

    ``env`` is added to the supervisor's own environment.
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    temporal_port: int = EMBEDDED_TEMPORAL_PORT
    ui_port: int = EMBEDDED_UI_PORT
    moto_port: int = EMBEDDED_S3_PORT
    comfy_port: int | None = EMBEDDED_COMFY_PORT
    """``None`` runs no comfy-sim, for a machine that has a real ComfyUI."""
    bucket: str = "wan-pipeline"
    queue_name: str = "wan-pipeline-events"
    region: str = "us-east-1"
    access_key_id: str = "embedded"
    secret_access_key: str = "embedded"
    search_attributes: Mapping[str, str] = field(default_factory=dict)
    """Name → type, e.g. ``{"SessionId": "Keyword"}``."""
    children: Sequence[ChildSpec] = ()
    ready_timeout: float = 60.0
    stop_timeout: float = 10.0

    def __post_init__(self) -> None:
        # Names are log file names, so two processes must never share one.
        names = [child.name for child in self.children]
        clashes = {n for n in names if names.count(n) > 1 or n in RESERVED_NAMES}
        if clashes:
            raise ValueError(
                f"child names must be unique and not {sorted(RESERVED_NAMES)}: {sorted(clashes)}"
            )


class Stack:
    """The embedded stack of one state dir. Logs go to ``state_dir/logs/{name}.log``."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.endpoints: StackEndpoints | None = None
        self._services: list[ManagedProcess] = []
        self._children: list[ManagedProcess] = []
        self._stopped: set[ManagedProcess] = set()

    @property
    def processes(self) -> list[ManagedProcess]:
        """Every process started so far, services first."""
        return [*self._services, *self._children]

    async def start(self) -> StackEndpoints:
        """Start everything; on any failure (or cancellation) stop what was started.

        A ``Stack`` runs once: create a new one to start again.
        """
        if self._services:
            raise RuntimeError("this Stack was already started")
        config = self.config
        config.state_dir.mkdir(parents=True, exist_ok=True)
        ready_file_path(config.state_dir).unlink(missing_ok=True)
        try:
            await self._start_services()
            endpoints = StackEndpoints(
                temporal_address=f"127.0.0.1:{config.temporal_port}",
                ui_url=f"http://127.0.0.1:{config.ui_port}",
                s3_endpoint=f"http://127.0.0.1:{config.moto_port}",
                bucket=config.bucket,
                queue_url=await asyncio.to_thread(self._provision),
                comfy_url=None if config.comfy_port is None else _comfy_url(config.comfy_port),
            )
            for spec in config.children:
                child = ManagedProcess(
                    spec.name,
                    spec.argv,
                    log_dir=services.log_dir(config.state_dir),
                    env={**os.environ, **spec.env},
                )
                self._children.append(child)
                child.start()
                log.info("child started", name=spec.name, pid=child.pid, log=str(child.log_path))
        except BaseException:
            await self.stop()
            raise
        self.endpoints = endpoints
        write_ready_file(
            config.state_dir,
            ReadyRecord(
                pid=os.getpid(),
                endpoints=endpoints,
                process_groups={p.name: p.pid for p in self.processes if p.pid is not None},
            ),
        )
        log.info(
            "stack ready",
            temporal_ui=endpoints.ui_url,
            s3=endpoints.s3_endpoint,
            bucket=endpoints.bucket,
            queue=endpoints.queue_url,
            comfy=endpoints.comfy_url,
        )
        return endpoints

    async def stop(self) -> None:
        """Stop children, then services, each in reverse start order. Safe to call twice."""
        ready_file_path(self.config.state_dir).unlink(missing_ok=True)
        for process in [*reversed(self._children), *reversed(self._services)]:
            if process.pid is None or process in self._stopped:
                continue
            code = await process.stop(self.config.stop_timeout)
            self._stopped.add(process)
            log.info("stopped", name=process.name, returncode=code)
        self.endpoints = None

    async def run_foreground(self) -> int:
        """Run until SIGINT/SIGTERM (exit 0) or until a process dies (exit 1), then stop all.

        Starts the stack first if ``start`` was not awaited yet; a ``StartupError`` is
        raised after everything is stopped. Holds ``stack.pid`` while running so
        ``pipeline down`` can find this supervisor.
        """
        running = read_pidfile(self.config.state_dir)
        if running is not None and running != os.getpid():
            raise RuntimeError(f"a stack already runs from {self.config.state_dir} (pid {running})")
        write_pidfile(self.config.state_dir)
        try:
            with stop_on_signals() as stop_requested:
                if self.endpoints is None and not await self._start_unless_stopped(stop_requested):
                    return 0
                return 1 if await self._watch(stop_requested) else 0
        finally:
            await self.stop()
            remove_pidfile(self.config.state_dir, os.getpid())

    async def _start_unless_stopped(self, stop_requested: asyncio.Event) -> bool:
        """Start, unless a signal arrives first; False if it did."""
        starting = asyncio.ensure_future(self.start())
        stopping = asyncio.ensure_future(stop_requested.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if starting.done():
            starting.result()
            return True
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        log.info("stop requested while starting")
        return False

    async def _watch(self, stop_requested: asyncio.Event) -> bool:
        """Wait for a stop request; True if a process died on its own first."""
        while not stop_requested.is_set():
            for process in self.processes:
                code = process.returncode
                if code is not None:
                    log.error(
                        "process exited unexpectedly",
                        name=process.name,
                        returncode=code,
                        log=str(process.log_path),
                        tail=process.log_tail(10),
                    )
                    return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_requested.wait(), _WATCH_S)
        log.info("stop requested")
        return False

    async def _start_services(self) -> None:
        config, state_dir = self.config, self.config.state_dir
        temporal_address = f"127.0.0.1:{config.temporal_port}"
        checks: list[tuple[ManagedProcess, Callable[[], Awaitable[bool]]]] = [
            (
                services.temporal_dev_server(
                    state_dir, config.temporal_port, config.ui_port, config.search_attributes
                ),
                partial(services.temporal_ready, temporal_address),
            ),
            (
                services.moto_server(state_dir, config.moto_port),
                partial(services.http_ready, f"http://127.0.0.1:{config.moto_port}/moto-api/"),
            ),
        ]
        if config.comfy_port is not None:
            checks.append(
                (
                    services.comfy_sim(state_dir, config.comfy_port),
                    partial(services.http_ready, f"{_comfy_url(config.comfy_port)}/system_stats"),
                )
            )
        for process, _ in checks:
            self._services.append(process)
            process.start()
            log.info(
                "service started", name=process.name, pid=process.pid, log=str(process.log_path)
            )
        waits = [
            asyncio.ensure_future(process.wait_ready(check, config.ready_timeout))
            for process, check in checks
        ]
        try:
            for finished in asyncio.as_completed(waits):
                await finished
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    def _provision(self) -> str:
        config = self.config
        session = boto3.session.Session(
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            region_name=config.region,
        )
        endpoint = f"http://127.0.0.1:{config.moto_port}"
        return provision_bucket_events(
            session.client("s3", endpoint_url=endpoint),
            session.client("sqs", endpoint_url=endpoint),
            bucket=config.bucket,
            queue_name=config.queue_name,
        )


def _comfy_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"
