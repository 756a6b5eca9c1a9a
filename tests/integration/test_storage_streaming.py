"""Large objects cross the object store streamed: memory stays flat, whatever their size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import S3Bucket

pytestmark = pytest.mark.integration

OBJECT_MB = 96
"""Six 16 MB parts, so multipart (above 32 MB), yet quick on a 2-core CI machine."""
BOUND_MB = 84
"""Under the object: holding it whole, even once, would take 96 MB (measured: 68 MB)."""


def test_moving_a_large_object_keeps_the_peak_rss_below_its_size(s3_bucket: S3Bucket) -> None:
    # A fresh process, so the peak measured is this transfer's and no other test's.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.streaming",
            "--json",
            "--size-mb",
            str(OBJECT_MB),
            "--endpoint",
            s3_bucket.endpoint,
            "--bucket",
            s3_bucket.bucket,
        ],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    figures = json.loads(done.stdout)

    assert figures["intact"]
    assert figures["object_mb"] == OBJECT_MB
    assert figures["peak_over_baseline_mb"] < BOUND_MB
