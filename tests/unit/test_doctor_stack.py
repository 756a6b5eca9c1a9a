"""``pipeline doctor``'s line about the embedded stack's processes."""

from __future__ import annotations

import os
from pathlib import Path

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
