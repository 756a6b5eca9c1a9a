"""Every misconfiguration names itself: one line with the cause and the fix, the matching
exit code, and a ``pipeline doctor`` line; run against the real services."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from pipeline.config import Settings
from pipeline.doctor import run_checks
from pipeline.stack.embedded import private_settings, settings_env
from pipeline.stack.process import free_port
from pipeline.storage import sync_s3
from tests.conftest import S3Bucket, TemporalServer
from tests.integration.stack_support import sample_image

pytestmark = pytest.mark.integration


def cli(
    settings: Settings, *args: str, timeout: float = 120, **variables: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env={**os.environ, **settings_env(settings), **variables},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def error_line(run: subprocess.CompletedProcess[str]) -> str:
    return run.stderr.strip().splitlines()[-1]


async def test_a_namespace_that_does_not_exist_is_named_not_taken_for_a_missing_session(
    temporal_server: TemporalServer, s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    settings = s3_bucket.settings(
        TEMPORAL_ADDRESS=temporal_server.address, TEMPORAL_NAMESPACE="no-such-namespace"
    )
    expected = (
        f"error: Temporal at {temporal_server.address} has no namespace 'no-such-namespace': "
        "fix TEMPORAL_NAMESPACE (or the profile's namespace), or create it ('temporal "
        "operator namespace create --namespace no-such-namespace')"
    )
    status = cli(settings, "status", "some-session")
    assert (status.returncode, error_line(status)) == (2, expected)

    name = f"ns-{uuid.uuid4().hex[:8]}"
    image = sample_image(tmp_path / "a.png")
    dropped = cli(settings, "drop", str(image), "--name", name, "--wait", "--timeout", "5")
    assert (dropped.returncode, error_line(dropped)) == (2, expected)
    listed = sync_s3(settings).list_objects_v2(Bucket=s3_bucket.bucket, Prefix=f"inbox/{name}/")
    assert listed.get("KeyCount", 0) == 0  # nothing uploaded for a session none would follow

    [temporal] = [check for check in await run_checks(settings) if check.name == "temporal"]
    assert not temporal.ok
    assert temporal.detail == f"{temporal_server.address} has no namespace 'no-such-namespace'"
    assert "temporal operator namespace create --namespace no-such-namespace" in temporal.fix


@pytest.mark.parametrize(
    ("variable", "code"),
    [("R2_ACCESS_KEY_ID", "InvalidAccessKeyId"), ("R2_SECRET_ACCESS_KEY", "SignatureDoesNotMatch")],
)
async def test_refused_credentials_are_named_with_the_usage_exit_code(
    s3_bucket: S3Bucket, tmp_path: Path, variable: str, code: str
) -> None:
    settings = s3_bucket.settings().model_copy(
        update={
            "r2_access_key_id"
            if variable == "R2_ACCESS_KEY_ID"
            else "r2_secret_access_key": "wrong"
            if variable == "R2_ACCESS_KEY_ID"
            else SecretStr("wrong")
        }
    )
    image = sample_image(tmp_path / "a.png")
    dropped = cli(settings, "drop", str(image))

    assert dropped.returncode == 2, dropped.stderr
    assert error_line(dropped) == (
        f"error: the object store at {s3_bucket.endpoint} refused the credentials ({code}) "
        f"for bucket {s3_bucket.bucket}: check R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY, and "
        "that the key may read and write the bucket ('pipeline doctor' checks them)"
    )
    checks = {check.name: check for check in await run_checks(settings)}
    assert not checks["storage credentials"].ok
    assert "R2_ACCESS_KEY_ID / R2_SECRET_ACCESS_KEY" in checks["storage credentials"].fix


@pytest.mark.parametrize("public", [{}, {"R2_PUBLIC_URL": "https://media.example.com/"}])
async def test_doctor_checks_that_the_store_accepts_presigned_links(
    s3_bucket: S3Bucket, public: dict[str, str]
) -> None:
    # Under R2_PUBLIC_URL too: all but the PUBLIC_OUTPUTS are presigned.
    checks = {check.name: check for check in await run_checks(s3_bucket.settings(**public))}
    assert checks["presigned links"].ok, checks["presigned links"].line()
    assert checks["presigned links"].detail == (
        f"valid for 604800 s (PRESIGN_EXPIRY_S), accepted by {s3_bucket.endpoint}"
    )


def _two_free_ports() -> int:
    """A port whose next one was free a moment ago too."""
    while True:
        port = free_port()
        with contextlib.suppress(OSError), socket.create_server(("127.0.0.1", port + 1)):
            return port


async def test_with_metrics_port_the_embedded_stack_serves_each_workers_metrics(
    tmp_path: Path,
) -> None:
    settings = private_settings(tmp_path / "state")
    port = _two_free_ports()
    up = cli(settings, "up", "--detach", timeout=300, METRICS_PORT=str(port))
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        cpu, gpu = f"http://127.0.0.1:{port}/metrics", f"http://127.0.0.1:{port + 1}/metrics"
        assert f"  metrics     : {cpu} (worker-cpu)" in up.stdout.splitlines()
        assert f"  metrics     : {gpu} (worker-gpu)" in up.stdout.splitlines()
        async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
            served = {url: (await http.get(url)).text for url in (cpu, gpu)}
        assert 'role="cpu"' in served[cpu]
        assert 'role="gpu"' in served[gpu]
        checks = {
            c.name: c for c in await run_checks(settings.model_copy(update={"metrics_port": port}))
        }
        assert checks["worker-gpu metrics"].ok, checks["worker-gpu metrics"].line()
    finally:
        down = cli(settings, "down", timeout=120)
        assert down.returncode == 0, down.stderr[-2000:]
