"""``Stack``: the embedded services plus the caller's workers, started, kept and stopped as one.

Start order: Temporal, SeaweedFS and ComfyUI (comfy-sim, or a real checkout) in parallel;
once all answer, the bucket is provisioned; then the children (workers, ingest consumer);
ready once the workers poll. A process that exits on its own is restarted after a backoff
(1 s doubling to 30 s, reset after a minute of good health); a restarted store is
provisioned again before the children that read its events
(``ChildSpec.restart_with_store``) start again. Stop order is the reverse of start, each
process by its process group. ``processes.json`` records every process group from its
start, so ``pipeline down`` finds children whose supervisor died.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import boto3
from botocore.config import Config

from pipeline.config import (
    EMBEDDED_COMFY_PORT,
    EMBEDDED_FILER_GRPC_PORT,
    EMBEDDED_FILER_PORT,
    EMBEDDED_S3_PORT,
    EMBEDDED_TEMPORAL_PORT,
    EMBEDDED_UI_PORT,
)
from pipeline.domain.errors import PortInUse, StartupError
from pipeline.domain.retention import RetentionPolicy, lifecycle_rules
from pipeline.logging import get_logger
from pipeline.shutdown import stop_on_signals
from pipeline.stack import services
from pipeline.stack.process import ManagedProcess, start_ready
from pipeline.stack.provision import ensure_bucket
from pipeline.stack.seaweedfs import (
    STOP_GRACE_S,
    S3Identity,
    SeaweedPorts,
    check_free_space,
    remove_stale_sockets,
    seaweedfs_ready,
    seaweedfs_server,
)
from pipeline.stack.services import ComfyCheckout
from pipeline.stack.state import (
    ProcessRecord,
    ProcessTable,
    ReadyRecord,
    StackEndpoints,
    processes_file_path,
    read_pidfile,
    ready_file_path,
    remove_pidfile,
    write_pidfile,
    write_process_table,
    write_ready_file,
)
from pipeline.storage import put_lifecycle

_WATCH_S = 0.5
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
STOP_TIMEOUT_S = 10.0
"""How long a child gets after SIGTERM before its process group is SIGKILLed."""
HEALTHY_AFTER_S = 60.0
"""A process that ran this long before exiting restarts after ``BACKOFF_FIRST_S`` again."""
STORE = "seaweedfs"
RESERVED_NAMES = frozenset({"temporal", STORE, "comfy-sim", "comfyui", "supervisor"})

log = get_logger()


@dataclass(frozen=True)
class ChildSpec:
    """A process the stack runs after its services are ready.

    ``env`` is added to the supervisor's own environment. ``restart_with_store`` children
    (the event consumer) are stopped while a crashed store restarts and started again once it
    is provisioned, so they never read a store without its bucket. ``polls`` (for a
    worker), given the moment the child was started, answers whether its polls reached
    Temporal since then; ``Stack.start`` returns only once they did.
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    restart_with_store: bool = False
    polls: Callable[[datetime], Awaitable[bool]] | None = None


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    temporal_port: int = EMBEDDED_TEMPORAL_PORT
    ui_port: int = EMBEDDED_UI_PORT
    s3_port: int = EMBEDDED_S3_PORT
    filer_port: int = EMBEDDED_FILER_PORT
    filer_grpc_port: int = EMBEDDED_FILER_GRPC_PORT
    comfy_port: int | None = EMBEDDED_COMFY_PORT
    """``None`` runs no ComfyUI: the workers use one the machine already has."""
    comfyui: ComfyCheckout | None = None
    """The real ComfyUI to run on ``comfy_port``; None runs comfy-sim there."""
    comfyui_ready_timeout: float = 300.0
    """How long that ComfyUI gets to answer (``COMFYUI_START_TIMEOUT_S``): it imports torch
    and its node packs."""
    bucket: str = "wan-pipeline"
    region: str = "us-east-1"
    access_key_id: str = "embedded"
    secret_access_key: str = "embedded"
    search_attributes: Mapping[str, str] = field(default_factory=dict)
    """Name → type, e.g. ``{"SessionId": "Keyword"}``."""
    children: Sequence[ChildSpec] = ()
    ready_timeout: float = 60.0
    poll_timeout: float = 120.0
    """How long a worker (a child with ``polls``) gets to poll: it imports torch, and the
    GPU worker polls once its ComfyUI answers."""
    stop_timeout: float = STOP_TIMEOUT_S
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    """The lifecycle rules the store is provisioned with (``RETENTION_*``), as ``pipeline
    setup bucket`` applies them to R2/S3."""
    metrics_ports: Mapping[str, int] = field(default_factory=dict)
    """Child name → the port it serves Prometheus ``/metrics`` on (``METRICS_PORT``, one per
    child: two cannot bind one port); checked free with the services' ports."""

    def __post_init__(self) -> None:
        # Names are log file names, so two processes must never share one.
        names = [child.name for child in self.children]
        clashes = {n for n in names if names.count(n) > 1 or n in RESERVED_NAMES}
        if clashes:
            raise ValueError(
                f"child names must be unique and not {sorted(RESERVED_NAMES)}: {sorted(clashes)}"
            )

    def public_ports(self) -> dict[int, str]:
        """Port → what listens there and the variable that moves it."""
        ports = {
            self.temporal_port: "Temporal (TEMPORAL_ADDRESS)",
            self.ui_port: "the Temporal UI (TEMPORAL_UI_URL)",
            self.s3_port: "SeaweedFS S3 (R2_ENDPOINT_URL)",
            self.filer_port: "the SeaweedFS filer (SEAWEEDFS_FILER)",
            self.filer_grpc_port: "the SeaweedFS filer gRPC (SEAWEEDFS_FILER)",
        }
        if self.comfy_port is not None:
            ports[self.comfy_port] = f"{self.comfy_service} (COMFYUI_URL)"
        for child, port in self.metrics_ports.items():
            ports[port] = f"{child}'s /metrics (METRICS_PORT)"
        return ports

    @property
    def comfy_service(self) -> str:
        """The name (and log file) of the ComfyUI the stack runs: ``comfyui`` or ``comfy-sim``."""
        return "comfy-sim" if self.comfyui is None else "comfyui"

    @property
    def comfy_source(self) -> str | None:
        """What answers on ``comfy_port``: ``comfy-sim`` or the checkout's directory."""
        if self.comfy_port is None:
            return None
        return "comfy-sim" if self.comfyui is None else str(self.comfyui.directory)


@dataclass
class _Service:
    process: ManagedProcess
    ready: Callable[[], Awaitable[bool]]
    ready_timeout: float


@dataclass
class _Health:
    started_at: float = field(default_factory=time.monotonic)
    failures: int = 0
    """Consecutive quick exits, for the backoff."""
    restarts: int = 0
    last_exit: int | None = None


class Stack:
    """The embedded stack of one state dir. Logs go to ``state_dir/logs/{name}.log``."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.endpoints: StackEndpoints | None = None
        self._services: dict[str, _Service] = {}
        self._children: list[ManagedProcess] = []
        self._health: dict[str, _Health] = {}
        self._restarting: dict[str, asyncio.Task[None]] = {}
        self._held: set[str] = set()
        """Consumers stopped on purpose while the store restarts."""
        self._store_ports: SeaweedPorts | None = None
        self._stopping = False

    @property
    def processes(self) -> list[ManagedProcess]:
        """Every process started so far, services first."""
        return [*(s.process for s in self._services.values()), *self._children]

    async def start(self) -> StackEndpoints:
        """Start everything; on any failure (or cancellation) stop what was started.

        Returns once every service answers and every worker (a child with ``polls``)
        polls, so work submitted next finds them. Raises ``PortInUse`` before
        starting anything when a port is taken, ``ConfigError`` when the state dir's disk
        has too little room for the store (``check_free_space``), ``StartupError``
        (naming the process, with its log tail) when one exits early or is not ready in
        time. A ``Stack`` runs once:
        create a new one to start again.
        """
        if self._services:
            raise RuntimeError("this Stack was already started")
        config = self.config
        check_ports_free(config.public_ports())
        check_free_space(config.state_dir)
        config.state_dir.mkdir(parents=True, exist_ok=True)
        ready_file_path(config.state_dir).unlink(missing_ok=True)
        try:
            await self._start_services()
            await self._provision()
            children_started = datetime.now(UTC)
            for spec in config.children:
                child = ManagedProcess(
                    spec.name,
                    spec.argv,
                    log_dir=services.log_dir(config.state_dir),
                    env={**os.environ, **spec.env},
                )
                self._children.append(child)
                self._launch(child)
                log.info("child started", name=spec.name, pid=child.pid, log=str(child.log_path))
            await self._workers_polling(children_started)
        except BaseException:
            await self.stop()
            raise
        assert self._store_ports is not None
        endpoints = StackEndpoints(
            temporal_address=f"127.0.0.1:{config.temporal_port}",
            ui_url=f"http://127.0.0.1:{config.ui_port}",
            s3_endpoint=self._store_ports.s3_endpoint,
            bucket=config.bucket,
            events=f"SeaweedFS filer {self._store_ports.filer_address} (metadata stream)",
            comfy_url=None if config.comfy_port is None else _comfy_url(config.comfy_port),
            comfy_source=config.comfy_source,
            metrics={
                child: f"http://127.0.0.1:{port}/metrics"
                for child, port in config.metrics_ports.items()
            },
        )
        self.endpoints = endpoints
        write_ready_file(config.state_dir, ReadyRecord(pid=os.getpid(), endpoints=endpoints))
        log.info(
            "stack ready",
            temporal_ui=endpoints.ui_url,
            s3=endpoints.s3_endpoint,
            bucket=endpoints.bucket,
            events=endpoints.events,
            comfy=endpoints.comfy_url,
        )
        return endpoints

    async def stop(self) -> None:
        """Stop children, then services, each in reverse start order. Safe to call twice."""
        self._stopping = True
        for task in self._restarting.values():
            task.cancel()
        await asyncio.gather(*self._restarting.values(), return_exceptions=True)
        self._restarting.clear()
        ready_file_path(self.config.state_dir).unlink(missing_ok=True)
        started_services = [service.process for service in self._services.values()]
        for process in [*reversed(self._children), *reversed(started_services)]:
            if process.pid is None:
                continue
            code = await process.stop(self._grace(process))
            log.info("stopped", name=process.name, returncode=code)
        if self._store_ports is not None:
            remove_stale_sockets(self._store_ports)
        processes_file_path(self.config.state_dir).unlink(missing_ok=True)
        self.endpoints = None

    async def run_foreground(self) -> int:
        """Run until SIGINT/SIGTERM, restarting whatever exits on its own; then stop all.

        Starts the stack first if ``start`` was not awaited yet; a ``StartupError`` or
        ``PortInUse`` is raised after everything is stopped. Holds ``stack.pid`` while
        running so ``pipeline down`` can find this supervisor. Returns 0.
        """
        running = read_pidfile(self.config.state_dir)
        if running is not None and running != os.getpid():
            raise RuntimeError(f"a stack already runs from {self.config.state_dir} (pid {running})")
        write_pidfile(self.config.state_dir)
        try:
            with stop_on_signals() as stop_requested:
                if self.endpoints is None and not await self._start_unless_stopped(stop_requested):
                    return 0
                await self.supervise(stop_requested)
                return 0
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

    async def supervise(self, stop_requested: asyncio.Event) -> None:
        """Until ``stop_requested``, restart every process that exits on its own.

        ``run_foreground`` runs this under signal handlers; a caller that started the stack
        itself (a benchmark) runs it as a task beside its own work.
        """
        while not stop_requested.is_set():
            for process in self.processes:
                code = process.returncode
                name = process.name
                if code is not None and name not in self._restarting and name not in self._held:
                    self._restarting[process.name] = asyncio.create_task(
                        self._restart(process, code)
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_requested.wait(), _WATCH_S)
        log.info("stop requested")

    async def _restart(self, process: ManagedProcess, code: int) -> None:
        """Wait out the backoff, then start ``process`` again (a service: until it is ready)."""
        health = self._health[process.name]
        health.last_exit = code
        health.failures = (
            1 if time.monotonic() - health.started_at >= HEALTHY_AFTER_S else health.failures + 1
        )
        delay = min(BACKOFF_FIRST_S * 2 ** (health.failures - 1), BACKOFF_MAX_S)
        log.error(
            "process exited unexpectedly",
            name=process.name,
            returncode=code,
            restart_in_s=delay,
            log=str(process.log_path),
            tail=process.log_tail(10),
        )
        try:
            await asyncio.sleep(delay)
            if process.name == STORE:
                await self._restart_store(process)
            elif process.name in self._services:
                await process.stop(self._grace(process))
                self._launch(process)
                service = self._services[process.name]
                await process.wait_ready(service.ready, service.ready_timeout)
            else:
                await process.stop(self.config.stop_timeout)
                self._launch(process)
            health.restarts += 1
            self._record()
            log.warning(
                "process restarted", name=process.name, pid=process.pid, restarts=health.restarts
            )
        except (StartupError, RuntimeError) as exc:
            # Not ready in time, or its old group would not die: the next round tries again.
            log.error("restart failed", name=process.name, error=str(exc).splitlines()[0])
        finally:
            self._restarting.pop(process.name, None)

    async def _restart_store(self, store: ManagedProcess) -> None:
        """Stop the store's event consumers, restart and provision it, then start them again.

        Started again, a consumer runs its reconcile pass at once, which starts the drops
        whose events the store lost around its stop.
        """
        consumers = [
            child
            for child, spec in zip(self._children, self.config.children, strict=True)
            if spec.restart_with_store
        ]
        self._held.update(consumer.name for consumer in consumers)
        try:
            for consumer in consumers:
                await consumer.stop(self.config.stop_timeout)
            await store.stop(STOP_GRACE_S)
            assert self._store_ports is not None
            remove_stale_sockets(self._store_ports)
            self._launch(store)
            await store.wait_ready(self._services[STORE].ready, self._services[STORE].ready_timeout)
            await self._provision()
            log.info("store provisioned again", bucket=self.config.bucket)
            for consumer in consumers:
                self._launch(consumer)
        finally:
            self._held.difference_update(consumer.name for consumer in consumers)

    @contextlib.asynccontextmanager
    async def held(self, name: str) -> AsyncIterator[None]:
        """Stop the process ``name`` and keep it down for the block; then start it again.

        An outage on purpose (maintenance, or a benchmark's ComfyUI outage): the supervisor
        does not restart a held process. A service is ready again when the block ends.
        Raises ``KeyError`` for a name the stack does not run.
        """
        process = next((p for p in self.processes if p.name == name), None)
        if process is None:
            raise KeyError(name)
        restarting = self._restarting.get(name)
        if restarting is not None:
            restarting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await restarting
        self._held.add(name)
        try:
            await process.stop(self._grace(process))
            yield
        finally:
            try:
                self._launch(process)
                if name in self._services:
                    service = self._services[name]
                    await process.wait_ready(service.ready, service.ready_timeout)
            finally:
                self._held.discard(name)

    def _launch(self, process: ManagedProcess) -> None:
        """Start (or start again) ``process`` and record its process group."""
        if process.pid is None:
            process.start()
        else:
            process.restart()
        self._health.setdefault(process.name, _Health()).started_at = time.monotonic()
        self._record()

    def _record(self) -> None:
        if self._stopping:
            return
        write_process_table(
            self.config.state_dir,
            ProcessTable(
                supervisor=os.getpid(),
                processes={
                    p.name: ProcessRecord(
                        pid=p.pid,
                        command=p.argv[0],
                        restarts=self._health[p.name].restarts,
                        last_exit=self._health[p.name].last_exit,
                    )
                    for p in self.processes
                    if p.pid is not None and p.name in self._health
                },
            ),
        )

    def _grace(self, process: ManagedProcess) -> float:
        return STOP_GRACE_S if process.name == STORE else self.config.stop_timeout

    async def _start_services(self) -> None:
        config, state_dir = self.config, self.config.state_dir
        temporal_address = f"127.0.0.1:{config.temporal_port}"
        store_ports = SeaweedPorts(
            s3=config.s3_port, filer=config.filer_port, filer_grpc=config.filer_grpc_port
        )
        self._store_ports = store_ports
        self._services = {
            "temporal": _Service(
                services.temporal_dev_server(
                    state_dir, config.temporal_port, config.ui_port, config.search_attributes
                ),
                lambda: services.temporal_ready(temporal_address),
                config.ready_timeout,
            ),
            STORE: _Service(
                seaweedfs_server(
                    state_dir,
                    store_ports,
                    S3Identity(config.access_key_id, config.secret_access_key),
                    log_dir=services.log_dir(state_dir),
                ),
                lambda: seaweedfs_ready(store_ports),
                config.ready_timeout,
            ),
        }
        if config.comfy_port is not None:
            comfy = _comfy_url(config.comfy_port)
            self._services[config.comfy_service] = (
                _Service(
                    services.comfy_sim(state_dir, config.comfy_port),
                    lambda: services.http_ready(f"{comfy}/system_stats"),
                    config.ready_timeout,
                )
                if config.comfyui is None
                else _Service(
                    services.comfyui(state_dir, config.comfy_port, config.comfyui),
                    lambda: services.http_ready(f"{comfy}/system_stats"),
                    max(config.ready_timeout, config.comfyui_ready_timeout),
                )
            )

        def launch(process: ManagedProcess) -> None:
            self._launch(process)
            log.info(
                "service started", name=process.name, pid=process.pid, log=str(process.log_path)
            )

        waits = [
            asyncio.ensure_future(
                start_ready(service.process, service.ready, service.ready_timeout, launch=launch)
            )
            for service in self._services.values()
        ]
        try:
            for finished in asyncio.as_completed(waits):
                await finished
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def _workers_polling(self, started: datetime) -> None:
        """Wait until every worker (a child with ``polls``) polled since ``started``.

        Raises ``StartupError`` for the first that exits or does not poll in time.
        """
        timeout = self.config.poll_timeout
        workers = [
            (child, spec.polls)
            for child, spec in zip(self._children, self.config.children, strict=True)
            if spec.polls is not None
        ]
        waits = [
            asyncio.ensure_future(self._polling(child, polls, started, timeout))
            for child, polls in workers
        ]
        try:
            await asyncio.gather(*waits)
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        if workers:
            log.info("workers polling", workers=[child.name for child, _ in workers])

    @staticmethod
    async def _polling(
        child: ManagedProcess,
        polls: Callable[[datetime], Awaitable[bool]],
        started: datetime,
        timeout: float,  # noqa: ASYNC109 - on timeout it raises with the log tail
    ) -> None:
        try:
            await child.wait_ready(partial(polls, started), timeout)
        except StartupError as exc:
            if child.returncode is not None:
                raise
            raise StartupError(
                child.name, f"started but polled no task queue within {timeout:g} s", exc.log_tail
            ) from None

    async def _provision(self) -> None:
        """Create the bucket and put its lifecycle rules; the store's event stream needs
        nothing else."""
        config = self.config
        assert self._store_ports is not None
        s3 = boto3.session.Session(
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            region_name=config.region,
        ).client(
            "s3",
            endpoint_url=self._store_ports.s3_endpoint,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )
        await asyncio.to_thread(ensure_bucket, s3, config.bucket)
        await asyncio.to_thread(put_lifecycle, s3, config.bucket, lifecycle_rules(config.retention))


def check_ports_free(ports: Mapping[int, str]) -> None:
    """Raise ``PortInUse`` for the first port some other process listens on (127.0.0.1)."""
    for port, what in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # Ignore sockets in TIME_WAIT from a stack that just stopped; a listener still counts.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                raise PortInUse(
                    f"port {port} for {what} is held by another process; "
                    "stop it or choose another port"
                ) from None


def _comfy_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"
