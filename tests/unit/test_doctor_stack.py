"""``pipeline doctor``'s line about the embedded stack's processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.doctor.stack import stack_checks
from pipeline.stack.state import ProcessRecord, ProcessTable, write_process_table


def test_restarts_are_counted_per_process_in_plain_words(tmp_path: Path) -> None:
    group = os.getpgrp()
    write_process_table(
        tmp_path,
        ProcessTable(
            supervisor=os.getpid(),
            processes={
                "temporal": ProcessRecord(pid=group, command="temporal"),
                "worker-gpu": ProcessRecord(pid=group, command="python", restarts=1, last_exit=-9),
                "ingest": ProcessRecord(pid=group, command="python", restarts=2, last_exit=-9),
            },
        ),
    )
    [check] = stack_checks(load_settings(PIPELINE_STATE_DIR=tmp_path))
    assert check.ok
    assert check.detail == (
        "3 of 3 processes running; worker-gpu restarted once (last exit code -9), "
        "ingest restarted 2 times (last exit code -9)"
    )


def test_no_stack_here_with_the_embedded_defaults_says_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("R2_ENDPOINT_URL", raising=False)
    [check] = stack_checks(load_settings(PIPELINE_STATE_DIR=tmp_path))
    assert not check.ok
    assert check.name == "embedded stack"
    assert check.detail.startswith(f"none runs from {tmp_path} (PIPELINE_STATE_DIR)")
    assert check.fix.startswith("start it with 'pipeline up --detach'")


def test_a_deployment_without_the_embedded_stack_gets_no_stack_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("R2_ENDPOINT_URL", "https://account.r2.cloudflarestorage.com")
    assert stack_checks(load_settings(PIPELINE_STATE_DIR=tmp_path)) == []
