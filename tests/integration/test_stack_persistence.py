"""The embedded stack keeps its data: `pipeline down`/`up` and a killed store lose no session.

Runs the stack exactly as users do (`pipeline up --detach`, `pipeline down`) on free ports.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from pipeline.config import Settings
from pipeline.domain.drop import DropRef
from pipeline.domain.layout import SessionLayout
from pipeline.domain.retention import essence, lifecycle_rules
from pipeline.stack.embedded import private_settings, settings_env
from pipeline.stack.services import log_dir
from pipeline.stack.state import read_process_table
from pipeline.storage import lifecycle_rules_in_force, sync_s3
from tests.helpers import eventually, png_bytes, put_drop

pytestmark = pytest.mark.integration

SIZE = {"width": 256, "height": 144}


def cli(settings: Settings, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env={**os.environ, **settings_env(settings)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def status(settings: Settings, session_id: str) -> dict[str, Any]:
    shown = cli(settings, "status", session_id, "--json", timeout=60)
    assert shown.returncode == 0, shown.stderr[-2000:]
    view: dict[str, Any] = json.loads(shown.stdout)
    return view


async def succeeded(settings: Settings, drop: DropRef) -> dict[str, Any]:
    result_key = SessionLayout(drop.session_id).result

    def has_result() -> bool:
        listing = sync_s3(settings).list_objects_v2(
            Bucket=settings.r2_bucket_name, Prefix=result_key
        )
        return bool(listing.get("Contents"))

    def what_the_stack_said() -> str:
        shown = cli(settings, "status", drop.session_id, "--json", timeout=60)
        tails = "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            for log in sorted(log_dir(settings.state_dir).glob("*.log"))
        )
        return f"status: {shown.stdout or shown.stderr}\n{tails}"

    await eventually(has_result, within_s=180, explain=what_the_stack_said)
    view = status(settings, drop.session_id)
    assert view["status"] == "succeeded", view
    return view


async def fetchable(view: dict[str, Any]) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        for name, url in view["urls"].items():
            assert (await http.get(url)).status_code == 200, name


def still(name: str, color: tuple[int, int, int]) -> dict[str, bytes]:
    return {name: png_bytes(Image.new("RGB", (256, 160), color))}


async def test_sessions_survive_a_killed_store_and_down_up_and_a_late_drop_still_runs(
    tmp_path: Path,
) -> None:
    settings = private_settings(
        tmp_path / "state", R2_ACCESS_KEY_ID="persist", R2_SECRET_ACCESS_KEY="persist-secret"
    )
    up = cli(settings, "up", "--detach")
    assert up.returncode == 0, up.stderr[-3000:]
    try:
        # The store is provisioned with the lifecycle rules `pipeline setup bucket` applies.
        in_force = lifecycle_rules_in_force(sync_s3(settings), settings.r2_bucket_name)
        wanted = lifecycle_rules(settings.retention)
        assert sorted(map(essence, in_force)) == sorted(map(essence, wanted))
        # What `make demo` run twice does: the running stack is reused, not started again.
        reused = cli(settings, "up", "--detach", "--reuse", timeout=60)
        twice = cli(settings, "up", "--detach", timeout=60)
        assert reused.returncode == 0, reused.stderr[-2000:]
        assert reused.stdout.startswith("reusing the stack already running")
        assert twice.returncode == 1
        assert "a stack is already running" in twice.stderr
        first = put_drop(
            settings, "first", {"kind": "i2v", "image": "a.png", **SIZE}, still("a.png", (9, 9, 9))
        )
        before = await succeeded(settings, first)

        # kill -9 of the store: the supervisor restarts and re-provisions it.
        table = read_process_table(settings.state_dir)
        assert table is not None
        os.killpg(table.processes["seaweedfs"].pid, signal.SIGKILL)

        def store_restarted() -> bool:
            current = read_process_table(settings.state_dir)
            return current is not None and current.processes["seaweedfs"].restarts == 1

        await eventually(store_restarted, within_s=60)
        await eventually(lambda: status(settings, first.session_id)["status"] == "succeeded")
        await fetchable(status(settings, first.session_id))

        # A manifest PUT just before the stack stops is started after the next start.
        late = put_drop(
            settings, "late", {"kind": "i2v", "image": "b.png", **SIZE}, still("b.png", (1, 2, 3))
        )
        down = cli(settings, "down")
        assert down.returncode == 0, down.stderr[-2000:]
        assert "stack stopped" in down.stdout

        again = cli(settings, "up", "--detach")
        assert again.returncode == 0, again.stderr[-3000:]
        after = status(settings, first.session_id)
        assert after["urls"].keys() == before["urls"].keys()
        await fetchable(after)
        await fetchable(await succeeded(settings, late))
    finally:
        await asyncio.to_thread(cli, settings, "down")
