"""Doctor checks of the embedded stack's own parts: its processes and the SeaweedFS filer."""

from __future__ import annotations

import httpx

from pipeline.config import Settings
from pipeline.doctor.check import TIMEOUT_S, Check, failed, passed
from pipeline.host.processes import group_alive
from pipeline.stack.seaweedfs import parse_filer_address
from pipeline.stack.state import read_process_table


def stack_checks(settings: Settings) -> list[Check]:
    """The processes of a stack run from ``PIPELINE_STATE_DIR`` and their restarts.

    When none runs from there: nothing for a deployment (``R2_ENDPOINT_URL`` set), else a
    failure saying to start it, since every other check then fails for that one reason.
    """
    table = read_process_table(settings.state_dir)
    if table is None:
        if "r2_endpoint_url" in settings.model_fields_set:
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
