"""``deploy/gpu/install_comfyui.py`` against local git repositories standing in for GitHub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs git

SCRIPT = Path(__file__).parents[2] / "deploy" / "gpu" / "install_comfyui.py"
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True
    ).stdout.strip()


def repository(path: Path, *versions: str) -> list[str]:
    """A repository with one commit per version of ``main.py``; returns the commit ids."""
    path.mkdir(parents=True)
    git(path, "init", "--quiet")
    commits = []
    for version in versions:
        (path / "main.py").write_text(version)
        git(path, "add", "main.py")
        git(path, "commit", "--quiet", "-m", version)
        commits.append(git(path, "rev-parse", "HEAD"))
    return commits


def run(lock: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(lock), str(dest), "--no-requirements"],
        capture_output=True,
        text=True,
        check=False,
    )


def test_checks_out_comfyui_and_each_pack_at_the_pinned_commit(tmp_path: Path) -> None:
    core = repository(tmp_path / "src" / "ComfyUI", "core v1", "core v2")
    pack = repository(tmp_path / "src" / "ComfyUI-GGUF", "gguf v1", "gguf v2", "gguf v3")
    lock = tmp_path / "models.lock"
    lock.write_text(
        json.dumps(
            {
                "comfyui": {
                    "name": "ComfyUI",
                    "repo": f"file://{tmp_path}/src/ComfyUI",
                    "commit": core[0],
                },
                "node_packs": [
                    {
                        "name": "ComfyUI-GGUF",
                        "repo": f"file://{tmp_path}/src/ComfyUI-GGUF",
                        "commit": pack[1],
                    }
                ],
            }
        )
    )
    dest = tmp_path / "opt" / "ComfyUI"
    first = run(lock, dest)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split("\n")[:2] == [
        f"ComfyUI {core[0][:12]} installed",
        f"ComfyUI-GGUF {pack[1][:12]} installed",
    ]
    assert (dest / "main.py").read_text() == "core v1"
    assert (dest / "custom_nodes" / "ComfyUI-GGUF" / "main.py").read_text() == "gguf v2"

    again = run(lock, dest)
    assert again.stdout.split() == [
        "ComfyUI",
        core[0][:12],
        "present",
        "ComfyUI-GGUF",
        pack[1][:12],
        "present",
    ]


def test_an_unknown_commit_is_one_line_and_exit_1(tmp_path: Path) -> None:
    repository(tmp_path / "src" / "ComfyUI", "core v1")
    lock = tmp_path / "models.lock"
    pin = {"name": "ComfyUI", "repo": f"file://{tmp_path}/src/ComfyUI", "commit": "e" * 40}
    lock.write_text(json.dumps({"comfyui": pin, "node_packs": []}))
    failed = run(lock, tmp_path / "dest")
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: git checkout --quiet --detach eeeeeeee")
    assert len(failed.stderr.strip().splitlines()) == 1
