"""``pipeline models sync/verify/lock`` against a local HTTP server and the SeaweedFS S3 store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from pipeline.cli.app import cli
from pipeline.storage import sync_s3
from pipeline.weights.fetch import HttpSource, S3Source, Sources
from pipeline.weights.lock import LockedFile, ModelsLock, RepoPin, dump_lock, load_lock
from pipeline.weights.presets import required_files
from pipeline.weights.sync import EXIT_BAD, EXIT_OK, EXIT_UNPINNED, ModelsDir, Status, exit_code
from tests.conftest import S3Bucket
from tests.integration.weights_support import FileServer, file_server, sha256

pytestmark = pytest.mark.integration

UNET = os.urandom(300_000)
LORA = os.urandom(70_000)
VAE = os.urandom(5_000)
COMMIT = "a" * 40


def entry(
    folder: str, name: str, data: bytes, *urls: str, pinned: bool = True, **extra: object
) -> LockedFile:
    return LockedFile.model_validate(
        {
            "folder": folder,
            "name": name,
            "size": len(data) if pinned else None,
            "sha256": sha256(data) if pinned else None,
            "urls": list(urls),
            "presets": ["p1"],
            **extra,
        }
    )


def lockfile(*files: LockedFile) -> ModelsLock:
    pin = RepoPin(name="ComfyUI", repo="https://github.com/comfyanonymous/ComfyUI", commit=COMMIT)
    return ModelsLock(comfyui=pin, node_packs=[], files=list(files))


@pytest.fixture
def server() -> Iterator[FileServer]:
    with file_server({"/m/unet.gguf": UNET, "/m/lora.safetensors": LORA, "/m/vae.pt": VAE}) as s:
        yield s


@pytest.fixture
def sources() -> Iterator[Sources]:
    with httpx.Client(timeout=10) as client:
        yield Sources(HttpSource(client), lambda: pytest.fail("no S3 source expected"))


def sync(dest: Path, files: list[LockedFile], sources: Sources) -> list[tuple[str, Status]]:
    return [(r.path, r.status) for r in ModelsDir(dest).sync(files, sources, retry_delay_s=0)]


def test_sync_downloads_missing_files_into_their_folders(
    tmp_path: Path, server: FileServer, sources: Sources
) -> None:
    files = [
        entry("unet", "unet.gguf", UNET, f"{server.base}/m/unet.gguf"),
        entry("loras", "lora.safetensors", LORA, f"{server.base}/m/lora.safetensors"),
    ]
    assert sync(tmp_path, files, sources) == [
        ("unet/unet.gguf", Status.DOWNLOADED),
        ("loras/lora.safetensors", Status.DOWNLOADED),
    ]
    assert (tmp_path / "unet" / "unet.gguf").read_bytes() == UNET
    assert not list(tmp_path.rglob("*.part"))
    # A second sync finds everything in place and fetches nothing.
    assert sync(tmp_path, files, sources) == [
        ("unet/unet.gguf", Status.OK),
        ("loras/lora.safetensors", Status.OK),
    ]
    assert len(server.requests) == 2


def test_a_transfer_cut_mid_way_resumes_from_where_it_stopped(
    tmp_path: Path, server: FileServer, sources: Sources
) -> None:
    server.cut_after["/m/unet.gguf"] = 100_000
    files = [entry("unet", "unet.gguf", UNET, f"{server.base}/m/unet.gguf")]
    assert sync(tmp_path, files, sources) == [("unet/unet.gguf", Status.DOWNLOADED)]
    assert server.gets("/m/unet.gguf") == [None, "bytes=100000-"]
    assert (tmp_path / "unet" / "unet.gguf").read_bytes() == UNET


def test_a_part_left_by_an_earlier_run_is_resumed(
    tmp_path: Path, server: FileServer, sources: Sources
) -> None:
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "unet.gguf.part").write_bytes(UNET[:123_456])
    files = [entry("unet", "unet.gguf", UNET, f"{server.base}/m/unet.gguf")]
    assert sync(tmp_path, files, sources) == [("unet/unet.gguf", Status.DOWNLOADED)]
    assert server.gets("/m/unet.gguf") == ["bytes=123456-"]
    assert (tmp_path / "unet" / "unet.gguf").read_bytes() == UNET


def test_a_server_ignoring_range_restarts_the_part(
    tmp_path: Path, server: FileServer, sources: Sources
) -> None:
    server.honour_range = False
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "unet.gguf.part").write_bytes(UNET[:5_000])
    files = [entry("unet", "unet.gguf", UNET, f"{server.base}/m/unet.gguf")]
    assert sync(tmp_path, files, sources) == [("unet/unet.gguf", Status.DOWNLOADED)]
    assert (tmp_path / "unet" / "unet.gguf").read_bytes() == UNET


def test_a_corrupt_file_is_quarantined_and_fetched_again(
    tmp_path: Path, server: FileServer, sources: Sources
) -> None:
    (tmp_path / "vae").mkdir()
    bad = bytes(len(VAE))
    (tmp_path / "vae" / "vae.pt").write_bytes(bad)
    files = [entry("vae", "vae.pt", VAE, f"{server.base}/m/vae.pt")]
    assert ModelsDir(tmp_path).verify(files)[0].status is Status.CORRUPT
    [report] = ModelsDir(tmp_path).sync(files, sources, retry_delay_s=0)
    assert report.status is Status.DOWNLOADED
    assert report.quarantined is not None
    assert Path(report.quarantined).read_bytes() == bad
    assert (tmp_path / "vae" / "vae.pt").read_bytes() == VAE


def test_a_stale_part_that_fails_its_hash_is_quarantined_and_fetched_from_zero(
    tmp_path: Path, server: FileServer, sources: Sources
) -> None:
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "vae.pt.part").write_bytes(b"\0" * 1000)
    files = [entry("vae", "vae.pt", VAE, f"{server.base}/m/vae.pt")]
    [report] = ModelsDir(tmp_path).sync(files, sources, retry_delay_s=0)
    assert report.status is Status.DOWNLOADED
    assert server.gets("/m/vae.pt") == ["bytes=1000-", None]
    assert report.quarantined is not None


def test_a_source_serving_other_bytes_falls_back_to_the_next_url(
    tmp_path: Path, server: FileServer, sources: Sources
) -> None:
    server.files["/wrong/vae.pt"] = os.urandom(len(VAE))
    files = [entry("vae", "vae.pt", VAE, f"{server.base}/wrong/vae.pt", f"{server.base}/m/vae.pt")]
    [report] = ModelsDir(tmp_path).sync(files, sources, retry_delay_s=0)
    assert (report.status, report.source) == (Status.DOWNLOADED, f"{server.base}/m/vae.pt")
    assert report.quarantined is not None


def test_every_source_failing_is_a_failure_with_reasons(
    tmp_path: Path, server: FileServer, sources: Sources
) -> None:
    files = [entry("vae", "vae.pt", VAE, f"{server.base}/gone/vae.pt")]
    [report] = ModelsDir(tmp_path).sync(files, sources, retry_delay_s=0)
    assert report.status is Status.FAILED
    assert "HTTP 404" in report.detail
    assert exit_code([report]) == EXIT_BAD
    assert not (tmp_path / "vae" / "vae.pt").exists()


def test_a_file_that_cannot_fit_is_not_started(
    tmp_path: Path, server: FileServer, sources: Sources
) -> None:
    class AlmostFull(ModelsDir):
        def free_bytes(self) -> int:
            return len(LORA) - 1

    files = [entry("loras", "lora.safetensors", LORA, f"{server.base}/m/lora.safetensors")]
    [report] = AlmostFull(tmp_path).sync(files, sources, retry_delay_s=0)
    assert report.status is Status.FAILED
    assert report.detail == f"needs {len(LORA)} more bytes; {tmp_path} has {len(LORA) - 1} free"
    assert server.requests == []


def test_unpinned_files_are_refused_unless_allowed(
    tmp_path: Path, server: FileServer, sources: Sources
) -> None:
    files = [entry("vae", "vae.pt", VAE, f"{server.base}/m/vae.pt", pinned=False)]
    [refused] = ModelsDir(tmp_path).sync(files, sources, retry_delay_s=0)
    assert refused.status is Status.UNPINNED
    assert "models lock --from" in refused.detail
    assert server.requests == []
    assert exit_code([refused]) == EXIT_UNPINNED

    [fetched] = ModelsDir(tmp_path).sync(files, sources, allow_unpinned=True, retry_delay_s=0)
    assert (fetched.status, fetched.size, fetched.sha256) == (
        Status.DOWNLOADED,
        len(VAE),
        sha256(VAE),
    )
    [checked] = ModelsDir(tmp_path).verify(files)
    assert (checked.status, checked.sha256) == (Status.UNPINNED, sha256(VAE))
    assert exit_code([checked]) == EXIT_UNPINNED


def test_two_syncs_at_once_fetch_each_file_once(tmp_path: Path, server: FileServer) -> None:
    server.delay_s = 0.3
    files = [
        entry("unet", "unet.gguf", UNET, f"{server.base}/m/unet.gguf"),
        entry("loras", "lora.safetensors", LORA, f"{server.base}/m/lora.safetensors"),
    ]
    results: list[list[tuple[str, Status]]] = []

    def run() -> None:
        with httpx.Client(timeout=10) as client:
            own = Sources(HttpSource(client), lambda: pytest.fail("no S3 source expected"))
            results.append(sync(tmp_path, files, own))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    statuses = sorted(tuple(status for _, status in result) for result in results)
    assert statuses == [
        (Status.DOWNLOADED, Status.DOWNLOADED),
        (Status.OK, Status.OK),
    ]
    assert len(server.requests) == 2


def test_verify_trusts_a_hash_only_while_size_and_mtime_hold(
    tmp_path: Path, server: FileServer, sources: Sources
) -> None:
    files = [entry("vae", "vae.pt", VAE, f"{server.base}/m/vae.pt")]
    sync(tmp_path, files, sources)
    target = tmp_path / "vae" / "vae.pt"
    info = target.stat()
    target.write_bytes(bytes(len(VAE)))  # same size, other bytes
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert ModelsDir(tmp_path).verify(files)[0].status is Status.OK  # stamp still vouches
    assert ModelsDir(tmp_path).verify(files, rehash=True)[0].status is Status.CORRUPT
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns + 1))
    assert ModelsDir(tmp_path).verify(files)[0].status is Status.CORRUPT


def test_s3_urls_resume_through_the_project_storage_client(
    tmp_path: Path, s3_bucket: S3Bucket
) -> None:
    settings = s3_bucket.settings()
    sync_s3(settings).put_object(Bucket=s3_bucket.bucket, Key="mirror/unet/unet.gguf", Body=UNET)
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "unet.gguf.part").write_bytes(UNET[:70_000])
    files = [entry("unet", "unet.gguf", UNET, f"s3://{s3_bucket.bucket}/mirror/unet/unet.gguf")]
    with httpx.Client() as client:
        sources = Sources(HttpSource(client), lambda: S3Source(sync_s3(settings)))
        [report] = ModelsDir(tmp_path).sync(files, sources, retry_delay_s=0)
    assert report.status is Status.DOWNLOADED
    assert (tmp_path / "unet" / "unet.gguf").read_bytes() == UNET


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout


def run_pipeline(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command line, for what only ``main`` does (one-line errors, exit code 2)."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, check=False
    )


def test_cli_sync_then_verify_with_json_and_exit_codes(tmp_path: Path, server: FileServer) -> None:
    lock_path = tmp_path / "models.lock"
    files = [
        entry("unet", "unet.gguf", UNET, f"{server.base}/m/unet.gguf"),
        entry("vae", "vae.pt", VAE, f"{server.base}/m/vae.pt", presets=["p2"]),
    ]
    lock_path.write_text(dump_lock(lockfile(*files)))
    dest = tmp_path / "models"

    code, out = run_cli("models", "verify", str(tmp_path), "--lock", str(lock_path), "--json")
    assert code == EXIT_BAD
    assert json.loads(out)["counts"] == {"missing": 2}

    code, out = run_cli(
        "models", "sync", "--dest", str(dest), "--lock", str(lock_path), "--preset", "p2", "--json"
    )
    report = json.loads(out)
    assert (code, report["ok"], report["counts"]) == (EXIT_OK, True, {"downloaded": 1})
    assert report["files"][0]["path"] == "vae/vae.pt"
    assert report["files"][0]["sha256"] == sha256(VAE)

    code, out = run_cli("models", "verify", str(dest), "--lock", str(lock_path), "--preset", "p2")
    assert code == EXIT_OK
    assert "ok         vae/vae.pt" in out

    # As scripts see it: a one-line error and exit code 2.
    done = run_pipeline(
        "models", "sync", "--dest", str(dest), "--lock", str(lock_path), "--preset", "nope"
    )
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "error: the lockfile has no files for preset(s) nope; known: p1, p2",
    )


def test_cli_lock_follows_the_presets_and_pins_from_a_mirror(
    tmp_path: Path, server: FileServer
) -> None:
    lock_path = tmp_path / "models.lock"
    files = required_files()
    lock_path.write_text(dump_lock(lockfile(*files[1:])))
    code, out = run_cli("models", "lock", "--lock", str(lock_path), "--check")
    assert code == EXIT_BAD
    assert f"added      {files[0].path}" in out

    contents = {f.path: os.urandom(1000 + i) for i, f in enumerate(files)}
    mirror = tmp_path / "mirror"
    for path, data in list(contents.items())[:-1]:
        (mirror / path).parent.mkdir(parents=True, exist_ok=True)
        (mirror / path).write_bytes(data)
    done = run_pipeline("models", "lock", "--lock", str(lock_path), "--from", str(mirror))
    assert (done.returncode, done.stderr.strip()) == (
        2,
        f"error: the mirror {mirror} has no {files[-1].path}",
    )
    assert load_lock(lock_path) == lockfile(*files[1:])  # nothing written

    server.files.update({f"/mirror/{path}": data for path, data in contents.items()})
    code, out = run_cli(
        "models", "lock", "--lock", str(lock_path), "--from", f"{server.base}/mirror", "--json"
    )
    report = json.loads(out)
    assert (code, report["added"], report["unpinned"]) == (EXIT_OK, [files[0].path], [])
    assert report["pinned"] == [f.path for f in files]
    assert [(f.size, f.sha256) for f in load_lock(lock_path).files] == [
        (len(data), sha256(data)) for data in contents.values()
    ]
    assert run_cli("models", "lock", "--lock", str(lock_path), "--check")[0] == EXIT_OK
