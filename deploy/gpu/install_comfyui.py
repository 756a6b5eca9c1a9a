"""Install ComfyUI and its custom node packs at the commits ``deploy/models.lock`` pins.

    python3 install_comfyui.py LOCK DEST [--python PY] [--no-requirements]

ComfyUI goes to ``DEST`` and each node pack to ``DEST/custom_nodes/{name}``, each checked out
at its pinned commit (a shallow fetch of that commit, or the whole history where the server
refuses fetches by id), then ``PY -m pip install -r requirements.txt`` for each that has one.
Re-running is safe: a checkout already at its commit is left alone. Standard library only:
it runs in the image build before the pipeline is installed. Exit 1 with one line on error.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


class InstallError(Exception):
    pass


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InstallError(f"git {' '.join(args)} in {cwd}: {done.stderr.strip()}")
    return done.stdout.strip()


def checkout(repo: str, commit: str, dest: Path) -> bool:
    """``dest`` at ``commit`` of ``repo``; False when it already was."""
    if (dest / ".git").is_dir() and git("rev-parse", "HEAD", cwd=dest) == commit:
        return False
    dest.mkdir(parents=True, exist_ok=True)
    if not (dest / ".git").is_dir():
        git("init", "--quiet", cwd=dest)
        git("remote", "add", "origin", repo, cwd=dest)
    try:
        git("fetch", "--quiet", "--depth", "1", "origin", commit, cwd=dest)
    except InstallError:
        git("fetch", "--quiet", "origin", cwd=dest)
    git("checkout", "--quiet", "--detach", commit, cwd=dest)
    if (head := git("rev-parse", "HEAD", cwd=dest)) != commit:
        raise InstallError(f"{dest} is at {head}, not {commit}")
    return True


def install(lock_path: Path, dest: Path, python: str, requirements: bool) -> list[str]:
    """Check out everything the lock pins; returns one line per repository."""
    lock = json.loads(lock_path.read_text("utf-8"))
    pins = [(lock["comfyui"], dest)] + [
        (pack, dest / "custom_nodes" / pack["name"]) for pack in lock["node_packs"]
    ]
    lines = []
    for pin, path in pins:
        changed = checkout(pin["repo"], pin["commit"], path)
        lines.append(f"{pin['name']} {pin['commit'][:12]} {'installed' if changed else 'present'}")
        wanted = path / "requirements.txt"
        if requirements and wanted.is_file():
            subprocess.run(
                [python, "-m", "pip", "install", "--no-cache-dir", "-r", wanted], check=True
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--python", default=sys.executable, help="interpreter of ComfyUI's env")
    parser.add_argument("--no-requirements", action="store_true", help="skip pip installs")
    args = parser.parse_args(argv)
    try:
        for line in install(args.lock, args.dest, args.python, not args.no_requirements):
            print(line)
    except (InstallError, OSError, KeyError, ValueError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
