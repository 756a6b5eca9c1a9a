"""Streaming: the worker's peak RSS while a large object goes up to the bucket and back.

Generates the object chunk by chunk (never whole in memory), uploads it through
``ObjectStore.upload_stream`` (multipart), downloads it with ``ObjectStore.download`` and
checks every byte by hash. The baseline, measured in the same run, is the process's RSS
just before moving. Target: peak RSS < 300 MB for a 2 GB object.

    .venv/bin/python -m bench.streaming [--size-mb 2048] [--endpoint URL --bucket NAME]

Without ``--endpoint`` it starts its own SeaweedFS, the embedded store. Linux only (reads
/proc). Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from pipeline.config import Settings, load_settings
from pipeline.stack.seaweedfs import S3Identity, running_seaweedfs
from pipeline.storage import CHUNK, ObjectStore, sync_s3

MB = 1024 * 1024
KEY = "bench/streaming.bin"
TARGET_PEAK_MB = 300


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> None:
    # Writing 5 resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")


async def _generated(size: int, digest: hashlib._Hash) -> AsyncIterator[bytes]:
    """``size`` pseudo-random bytes, one chunk at a time, hashed as they go out."""
    rng = random.Random(0)
    sent = 0
    while sent < size:
        chunk = rng.randbytes(min(CHUNK, size - sent))
        digest.update(chunk)
        sent += len(chunk)
        yield chunk
        await asyncio.sleep(0)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


async def move(settings: Settings, size: int, scratch: Path) -> dict[str, float | bool]:
    """Upload then download ``size`` bytes; RSS and throughput figures."""
    async with ObjectStore(settings) as store:
        baseline = _status_mb("VmRSS")
        _reset_peak()
        sent = hashlib.sha256()
        started = time.perf_counter()
        await store.upload_stream(KEY, _generated(size, sent), "application/octet-stream")
        uploaded = time.perf_counter()
        received = await store.download(KEY, scratch / "object.bin")
        downloaded = time.perf_counter()
        peak = _status_mb("VmHWM")
        await store.delete(KEY)
    intact = received == size and _file_digest(scratch / "object.bin") == sent.hexdigest()
    return {
        "object_mb": size / MB,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak,
        "peak_over_baseline_mb": peak - baseline,
        "peak_over_baseline_per_object_mb": (peak - baseline) / (size / MB),
        "upload_mb_per_s": size / MB / (uploaded - started),
        "download_mb_per_s": size / MB / (downloaded - uploaded),
        "intact": intact,
    }


def _settings(endpoint: str, bucket: str, work: Path) -> Settings:
    return load_settings(
        R2_ENDPOINT_URL=endpoint,
        R2_BUCKET_NAME=bucket,
        R2_ACCESS_KEY_ID="testing",
        R2_SECRET_ACCESS_KEY="testing",
        PIPELINE_WORK_DIR=str(work),
    )


async def main(size_mb: int, endpoint: str | None, bucket: str) -> dict[str, float | bool]:
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as folder:
        scratch = Path(folder)
        if endpoint is not None:
            return await move(_settings(endpoint, bucket, scratch), size_mb * MB, scratch)
        identity = S3Identity("testing", "testing")
        async with running_seaweedfs(scratch / "store", identity) as store:
            settings = _settings(store.s3_endpoint, bucket, scratch)
            await asyncio.to_thread(sync_s3(settings).create_bucket, Bucket=bucket)
            return await move(settings, size_mb * MB, scratch)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=2048)
    parser.add_argument("--endpoint", help="an S3 endpoint with --bucket; default: own SeaweedFS")
    parser.add_argument("--bucket", default="bench-streaming")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    options = parser.parse_args()
    result = asyncio.run(main(options.size_mb, options.endpoint, options.bucket))
    if options.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            shown = f"{value:.2f}" if isinstance(value, float) else str(value)
            print(f"{name:>34}: {shown}")
        met = result["intact"] and float(result["peak_rss_mb"]) < TARGET_PEAK_MB
        print(f"target peak RSS < {TARGET_PEAK_MB} MB:", "met" if met else "MISSED")
        print(json.dumps(result))
