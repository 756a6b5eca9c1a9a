"""Doctor checks of the embedded stack's own parts: its processes, the room its store needs
on the state dir's disk, its workers' metrics ports, and the SeaweedFS filer."""

from __future__ import annotations

import shutil

import httpx

from pipeline.config import Settings
from pipeline.doctor.check import TIMEOUT_S, Check, failed, passed
from pipeline.host.processes import group_alive
from pipeline.stack.embedded import metrics_ports
from pipeline.stack.seaweedfs import (
    DiskUsage,
    free_space_mb,
    free_space_needed_mb,
    parse_filer_address,
)
from pipeline.stack.state import read_process_table


def stack_checks(settings: Settings) -> list[Check]:
    """The processes of a stack run from ``PIPELINE_STATE_DIR`` and their restarts.

    When none runs from there: nothing for a deployment (``R2_ENDPOINT_URL`` set), else a
    failure saying to start it, since every other check then fails for that one reason.
    """
    table = read_process_table(settings.state_dir)
    if table is None:
        if not embedded(settings):
            return []
        return [
            failed(
                "embedded stack",
                f"none runs from {settings.state_dir} (PIPELINE_STATE_DIR), and with "
                "R2_ENDPOINT_URL unset the checks below are of the embedded stack",
                "start it with 'pipeline up --detach', or set R2_ENDPOINT_URL, "
                "TEMPORAL_ADDRESS and COMFYUI_URL for a deployment",
            )
        ]
    down = [name for name, record in table.processes.items() if not group_alive(record.pid)]
    restarted = {name: r for name, r in table.processes.items() if r.restarts}
    restarts = ", ".join(
        f"{name} restarted {'once' if r.restarts == 1 else f'{r.restarts} times'}"
        f" (last exit code {r.last_exit})"
        for name, r in restarted.items()
    )
    detail = f"{len(table.processes) - len(down)} of {len(table.processes)} processes running"
    if restarts:
        detail += f"; {restarts}"
    if down:
        return [
            failed(
                "stack processes",
                f"{detail}; down: {', '.join(down)}",
                f"see {settings.state_dir / 'logs'}; 'pipeline down' then 'pipeline up'",
            )
        ]
    return [passed("stack processes", detail)]


def embedded(settings: Settings) -> bool:
    """Whether the checks are of the embedded stack: ``R2_ENDPOINT_URL`` left unset."""
    return "r2_endpoint_url" not in settings.model_fields_set


def disk_check(settings: Settings, disk_usage: DiskUsage = shutil.disk_usage) -> Check:
    """Whether the state dir's disk has the room the embedded store needs to start
    (``pipeline.stack.seaweedfs.check_free_space``)."""
    state_dir = settings.state_dir
    needed, free = free_space_needed_mb(state_dir), free_space_mb(state_dir, disk_usage)
    detail = f"{free} MB free in {state_dir} (PIPELINE_STATE_DIR), SeaweedFS needs {needed} MB"
    if free < needed:
        return failed(
            "state disk", detail, "free space there or point PIPELINE_STATE_DIR at a larger disk"
        )
    return passed("state disk", detail)


async def metrics_checks(settings: Settings) -> list[Check]:
    """With ``METRICS_PORT`` set and the embedded stack running here: each worker's
    ``/metrics`` answers on its own port (``pipeline.stack.embedded.metrics_ports``)."""
    ports = metrics_ports(settings)
    if not ports or read_process_table(settings.state_dir) is None:
        return []
    checks = []
    async with httpx.AsyncClient(timeout=TIMEOUT_S, trust_env=False) as http:
        for child, port in ports.items():
            url = f"http://127.0.0.1:{port}/metrics"
            try:
                answered = (await http.get(url)).status_code == httpx.codes.OK
            except httpx.HTTPError:
                answered = False
            checks.append(
                passed(f"{child} metrics", url)
                if answered
                else failed(
                    f"{child} metrics",
                    f"nothing serves {url}",
                    f"see {settings.state_dir / 'logs' / child}.log; METRICS_PORT {port} "
                    "may be held by another process",
                )
            )
    return checks


async def filer_check(settings: Settings) -> Check:
    """The filer whose metadata stream the ``seaweedfs`` source reads answers."""
    host, port, grpc_port = parse_filer_address(settings.seaweedfs_filer)
    url = f"http://{host}:{port}/healthz"
    fix = "check SEAWEEDFS_FILER (host:port.grpcport of the filer) and that SeaweedFS runs"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S, trust_env=False) as http:
            response = await http.get(url)
    except httpx.HTTPError as exc:
        return failed("filer stream", f"{url}: {exc!r}", fix)
    if response.status_code != httpx.codes.OK:
        return failed("filer stream", f"{url} answered {response.status_code}", fix)
    return passed("filer stream", f"SeaweedFS filer at {host}:{port} (gRPC {grpc_port})")
