"""What ``pipeline up`` says when a process of the stack fails to start, and what a worker
says when its ``METRICS_PORT`` is taken."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pipeline.cli.stack import startup_failed
from pipeline.config import load_settings
from pipeline.domain.errors import PortInUse, StartupError
from pipeline.temporal_client import metrics_runtime


def test_a_child_that_exits_early_shows_its_own_last_log_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tail = (
        '{"event": "worker starting", "level": "info"}\n\n'
        "error: METRICS_PORT 29090: the gpu worker cannot serve /metrics there"
    )
    log = tmp_path / "worker-gpu.log"
    error = startup_failed(StartupError("worker-gpu", "exited early with code 2", tail), log)

    assert error.format_message() == (
        "worker-gpu exited early with code 2: METRICS_PORT 29090: the gpu worker cannot "
        "serve /metrics there"
    )
    assert capsys.readouterr().err.splitlines() == [
        f"last lines of {log}:",
        '  | {"event": "worker starting", "level": "info"}',
        "  | error: METRICS_PORT 29090: the gpu worker cannot serve /metrics there",
    ]


def test_an_empty_log_is_said_to_be_empty(tmp_path: Path) -> None:
    log = tmp_path / "seaweedfs.log"
    error = startup_failed(StartupError("seaweedfs", "not ready after 60s", "\n"), log)
    assert error.format_message() == f"seaweedfs not ready after 60s; its log {log} is empty"


def test_a_metrics_port_held_by_another_process_is_named_with_its_variable() -> None:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUse) as caught:
            metrics_runtime(load_settings(METRICS_PORT=str(port)), "gpu")
    assert str(caught.value).startswith(
        f"METRICS_PORT {port}: the gpu worker cannot serve /metrics there (Address already in use"
    )
    assert "give each worker on this host its own METRICS_PORT" in str(caught.value)
