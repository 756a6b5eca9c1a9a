"""The embedded store's room on the state dir's disk, checked before it starts
(``pipeline.stack.seaweedfs.check_free_space``) and by ``pipeline doctor``."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from pipeline.config import load_settings
from pipeline.doctor.stack import disk_check
from pipeline.domain.errors import ConfigError
from pipeline.stack.seaweedfs import (
    MB,
    VOLUME_SIZE_LIMIT_MB,
    VOLUMES_TO_START,
    DiskUsage,
    check_free_space,
    free_space_needed_mb,
    store_dir,
)


class Usage(NamedTuple):
    free: int


def free(mb: int) -> DiskUsage:
    """A ``disk_usage`` for a file system with ``mb`` MB free (a 400 MB tmpfs, say)."""
    return lambda path: Usage(mb * MB)


def test_a_small_disk_is_refused_saying_what_is_needed_and_what_is_free(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with pytest.raises(ConfigError) as caught:
        check_free_space(state, free(399))
    assert str(caught.value) == (
        f"SeaweedFS needs about 2112 MB free in {state} (PIPELINE_STATE_DIR) to start "
        "(8 volumes of 256 MB), found 399 MB: free space there or point PIPELINE_STATE_DIR "
        "at a larger disk"
    )
    check_free_space(state, free(2112))


def test_volumes_the_store_already_holds_need_no_more_room(tmp_path: Path) -> None:
    data = store_dir(tmp_path) / "data"
    data.mkdir(parents=True)
    for number in range(1, 7):
        (data / f"wan-pipeline_{number}.dat").write_bytes(b"")
    assert free_space_needed_mb(tmp_path) == (VOLUMES_TO_START - 6) * VOLUME_SIZE_LIMIT_MB + 64
    check_free_space(tmp_path, free(600))


def test_doctor_says_how_much_room_the_state_disk_has(tmp_path: Path) -> None:
    settings = load_settings(PIPELINE_STATE_DIR=str(tmp_path))
    small = disk_check(settings, free(48))
    assert not small.ok
    assert small.detail == (
        f"48 MB free in {tmp_path} (PIPELINE_STATE_DIR), SeaweedFS needs 2112 MB"
    )
    assert "PIPELINE_STATE_DIR" in small.fix
    assert disk_check(settings, free(4096)).ok
