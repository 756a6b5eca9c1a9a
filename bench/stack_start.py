"""Stack start: launch → every service answers, for the whole embedded stack and its store.

Starts a private embedded stack (Temporal, SeaweedFS, comfy-sim, provisioning; no workers)
``--runs`` times on a fresh state dir and as many times again on that existing state (a
restart), then each object store alone: SeaweedFS (fresh and on existing data) and, as the
baseline from the same run, moto server (the in-memory store it replaced, which has no data
to find on a restart). Ends with one JSON line of the medians.

    .venv/bin/python -m bench.stack_start [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

from pipeline.stack import services
from pipeline.stack.embedded import private_settings, stack_config_for
from pipeline.stack.process import free_port
from pipeline.stack.seaweedfs import S3Identity, running_seaweedfs
from pipeline.stack.supervisor import Stack


async def whole_stack(state: Path) -> float:
    config = stack_config_for(private_settings(state))
    stack = Stack(dataclasses.replace(config, children=[]))
    began = time.monotonic()
    await stack.start()
    elapsed = time.monotonic() - began
    await stack.stop()
    return elapsed


async def seaweedfs_alone(state: Path) -> float:
    began = time.monotonic()
    async with running_seaweedfs(state, S3Identity("bench", "bench")):
        return time.monotonic() - began


async def moto_alone(state: Path) -> float:
    port = free_port()
    moto = services.moto_server(state, port)
    began = time.monotonic()
    moto.start()
    try:
        await moto.wait_ready(lambda: services.http_ready(f"http://127.0.0.1:{port}/moto-api/"), 60)
        return time.monotonic() - began
    finally:
        await moto.stop()


async def main(runs: int) -> dict[str, float]:
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-stack-start-") as folder:
        root = Path(folder)
        for run in range(runs):
            rows.setdefault("stack_fresh_s", []).append(await whole_stack(root / f"s{run}"))
            rows.setdefault("stack_restart_s", []).append(await whole_stack(root / f"s{run}"))
            rows.setdefault("seaweedfs_fresh_s", []).append(await seaweedfs_alone(root / f"w{run}"))
            rows.setdefault("seaweedfs_restart_s", []).append(
                await seaweedfs_alone(root / f"w{run}")
            )
            rows.setdefault("moto_baseline_s", []).append(await moto_alone(root / f"m{run}"))
    medians = {name: statistics.median(values) for name, values in rows.items()}
    medians["seaweedfs_restart_vs_moto"] = (
        medians["seaweedfs_restart_s"] / medians["moto_baseline_s"]
    )
    return medians


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    figures = asyncio.run(main(arguments.runs))
    for name, value in figures.items():
        print(f"{name:>26}: {value:.2f}")
    print(json.dumps({name: round(value, 3) for name, value in figures.items()}))
