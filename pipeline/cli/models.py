"""``pipeline models``: the weight files of ``deploy/models.lock`` on a models directory.

Exit codes (all three commands): 0 every selected file is present and matches its pin;
1 something is missing, corrupt, failed to download, or (``lock --check``) the lockfile is
out of date; 2 a usage error or an unreadable lockfile; 3 nothing is wrong except files
the lockfile has no sha256 for (unpinned), which therefore could not be checked.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import httpx

from pipeline.cli.context import App
from pipeline.cli.terminal import NO_TRANSFER, Terminal, Transfer, size
from pipeline.config import Settings
from pipeline.storage import sync_s3
from pipeline.weights.fetch import HttpSource, ProgressFn, S3Source, Sources
from pipeline.weights.lock import LockedFile, ModelsLock, dump_lock, json_schema, load_lock
from pipeline.weights.pin import pin_from
from pipeline.weights.presets import refreshed
from pipeline.weights.sync import (
    EXIT_BAD,
    EXIT_OK,
    EXIT_UNPINNED,
    FileReport,
    Listener,
    ModelsDir,
    Status,
    exit_code,
)
from pipeline.weights.tiny import tiny_specs, write_file

HTTP_TIMEOUT = httpx.Timeout(60.0, connect=30.0)


@contextmanager
def open_sources(settings: Settings) -> Iterator[Sources]:
    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    with httpx.Client(timeout=HTTP_TIMEOUT) as client:
        yield Sources(HttpSource(client, token), lambda: S3Source(sync_s3(settings)))


class SyncOutput(Listener):
    """What a sync or a pin shows: the terminal's bar for each transfer, then one line per
    file on stdout; with ``--json`` (``as_json``) nothing, so the report is the only output."""

    def __init__(self, terminal: Terminal, *, as_json: bool) -> None:
        self.terminal, self.as_json = terminal, as_json
        self._transfer: Transfer = NO_TRANSFER

    def close(self) -> None:
        self._transfer.close()
        self._transfer = NO_TRANSFER

    def start(self, entry: LockedFile, total: int | None, verb: str = "fetching") -> None:
        self.close()
        self._transfer = self.terminal.transfer(f"{verb} {entry.path}", total, as_json=self.as_json)

    def advance(self, n: int) -> None:
        self._transfer.advance(n)

    def finish(self, report: FileReport) -> None:
        self.close()
        if not self.as_json:
            click.echo(_line(report))

    def waiting(self, lock_path: Path) -> None:
        if not self.as_json:
            click.echo(f"another sync holds {lock_path}; waiting for it to finish", err=True)

    def measuring(self, entry: LockedFile) -> ProgressFn:
        self.start(entry, entry.size, "measuring")
        return self.advance


def _line(report: FileReport) -> str:
    line = f"{report.status:<10} {report.path}"
    if report.status is Status.DOWNLOADED and report.source:
        line += f"  from {report.source}"
    if report.quarantined:
        line += f"  (bad copy quarantined: {report.quarantined})"
    return f"{line}  {report.detail}" if report.detail else line


def _report(as_json: bool, dest: Path, lock_path: Path, reports: list[FileReport]) -> int:
    code = exit_code(reports)
    counts: dict[str, int] = {}
    for report in reports:
        counts[report.status] = counts.get(report.status, 0) + 1
    if as_json:
        document = {
            "dest": str(dest),
            "lock": str(lock_path),
            "ok": code == EXIT_OK,
            "exit_code": code,
            "counts": counts,
            "files": [r.as_json() for r in reports],
        }
        click.echo(json.dumps(document, indent=2))
    else:
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        click.echo(f"{dest}: {summary or 'no files selected'}")
    return code


def _selected(lock: ModelsLock, presets: tuple[str, ...], separation: bool) -> list[LockedFile]:
    return lock.select(list(presets) or None, separation=separation)


_lock_option = click.option(
    "--lock",
    "lock_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The lockfile (default: MODELS_LOCK, else deploy/models.lock).",
)
_preset_option = click.option(
    "--preset",
    "presets",
    multiple=True,
    help="Only the files these presets need (repeatable); default: every preset's.",
)
_separation_option = click.option(
    "--separation/--no-separation",
    default=True,
    help="Include the Demucs model GPU workers separate vocals with (default: yes).",
)
_dest_option = click.option(
    "--dest",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The models directory (ComfyUI's models/); created if missing.",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


@click.group()
def models() -> None:
    """Model weight files: sync a models directory to deploy/models.lock, or verify one.

    \b
    Exit codes: 0 every file present and matching its pin;
                1 something missing, corrupt or not downloadable (lock --check: stale);
                2 bad arguments or an unreadable lockfile;
                3 nothing wrong but unpinned files (no sha256 in the lockfile).
    """


@models.command()
@_dest_option
@_lock_option
@_preset_option
@_separation_option
@click.option(
    "--allow-unpinned",
    is_flag=True,
    help="Also download files the lockfile has no sha256 for (reported, not checked).",
)
@_json_option
@click.pass_obj
def sync(
    app: App,
    dest: Path,
    lock_path: Path | None,
    presets: tuple[str, ...],
    separation: bool,
    allow_unpinned: bool,
    as_json: bool,
) -> None:
    """Download what DEST lacks, resuming partial files; verify size and sha256.

    A file that fails its hash is quarantined under DEST/.models-sync/quarantine and
    fetched again. Safe to run twice at once: the second waits for the first.
    """
    lock_path = lock_path or app.settings.models_lock
    entries = _selected(load_lock(lock_path), presets, separation)
    output = SyncOutput(app.terminal, as_json=as_json)
    with open_sources(app.settings) as sources:
        reports = ModelsDir(dest).sync(
            entries, sources, allow_unpinned=allow_unpinned, listener=output
        )
    sys.exit(_report(as_json, dest, lock_path, reports))


@models.command()
@click.argument("dest", type=click.Path(file_okay=False, exists=True, path_type=Path))
@_lock_option
@_preset_option
@_separation_option
@click.option("--rehash", is_flag=True, help="Hash every file, even those hashed before.")
@_json_option
@click.pass_obj
def verify(
    app: App,
    dest: Path,
    lock_path: Path | None,
    presets: tuple[str, ...],
    separation: bool,
    rehash: bool,
    as_json: bool,
) -> None:
    """Check DEST against the lockfile without downloading anything.

    Files hashed before are trusted while their size and mtime are unchanged (--rehash
    reads them all again).
    """
    lock_path = lock_path or app.settings.models_lock
    entries = _selected(load_lock(lock_path), presets, separation)
    output = SyncOutput(app.terminal, as_json=as_json)
    reports = ModelsDir(dest).verify(entries, rehash=rehash, listener=output)
    sys.exit(_report(as_json, dest, lock_path, reports))


@models.command()
@_lock_option
@click.option(
    "--from",
    "mirror",
    help="Also pin unpinned files: a models directory or URL prefix (https://..., "
    "s3://bucket/prefix) holding them, whose copies you trust.",
)
@click.option("--rehash", is_flag=True, help="With --from: measure pinned files too, re-pin them.")
@click.option(
    "--check", is_flag=True, help="Change nothing; exit 1 unless the lockfile matches the presets."
)
@_json_option
@click.pass_obj
def lock(
    app: App, lock_path: Path | None, mirror: str | None, rehash: bool, check: bool, as_json: bool
) -> None:
    """Bring the lockfile's files up to date with the presets; --from pins sizes and hashes.

    Files come from the presets and workflows_comfy/models.toml (folder, source URL); a
    file's measured size and sha256 and any extra sources already in the lock are kept.
    """
    lock_path = lock_path or app.settings.models_lock
    current = load_lock(lock_path)
    updated = refreshed(current)
    before, after = {f.path for f in current.files}, {f.path for f in updated.files}
    summary: dict[str, Any] = {
        "lock": str(lock_path),
        "added": sorted(after - before),
        "removed": sorted(before - after),
        "pinned": [],
    }
    if check:
        stale = updated != current
        _lock_summary(as_json, summary | {"up_to_date": not stale})
        sys.exit(EXIT_BAD if stale else EXIT_OK)
    if mirror is not None:
        output = SyncOutput(app.terminal, as_json=as_json)
        with open_sources(app.settings) as sources:
            updated, summary["pinned"] = pin_from(
                updated, mirror, sources, rehash=rehash, on_file=output.measuring
            )
        output.close()
    if updated != current:
        lock_path.write_text(dump_lock(updated), "utf-8")
    summary["unpinned"] = [f.path for f in updated.files if not f.pinned]
    _lock_summary(as_json, summary)
    sys.exit(EXIT_UNPINNED if summary["unpinned"] else EXIT_OK)


def _lock_summary(as_json: bool, summary: dict[str, Any]) -> None:
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    for key in ("added", "removed", "pinned"):
        for path in summary[key]:
            click.echo(f"{key:<10} {path}")
    if "up_to_date" in summary:
        state = "up to date" if summary["up_to_date"] else "out of date: run `pipeline models lock`"
        click.echo(f"{summary['lock']}: {state}")
    else:
        click.echo(f"{summary['lock']}: {len(summary['unpinned'])} file(s) unpinned")


@models.command()
def schema() -> None:
    """Print the lockfile's JSON Schema."""
    click.echo(json.dumps(json_schema(), indent=2))


@models.command()
@_dest_option
@_preset_option
@_json_option
def tiny(dest: Path, presets: tuple[str, ...], as_json: bool) -> None:
    """Write tiny stand-ins of the presets' model files, for a real ComfyUI on a CPU.

    Same names and folders as the real files, keys ComfyUI detects as the real models,
    seeded values (same bytes every run), under 1 GB for every preset. For tests and
    demos only: what the models generate is noise.
    """
    written: list[tuple[str, str, int]] = []
    for spec in tiny_specs(presets or None):
        n_bytes = write_file(spec, dest).stat().st_size
        written.append((spec.path, spec.architecture, n_bytes))
        if not as_json:
            click.echo(f"{'written':<10} {spec.path}  {size(n_bytes)}")
    total = sum(n for _, _, n in written)
    if as_json:
        files = [{"path": p, "architecture": a, "bytes": n} for p, a, n in written]
        document = {"dest": str(dest), "files": files, "total_bytes": total}
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(f"{dest}: {len(written)} tiny file(s), {size(total)}")


COMMANDS = [models]
