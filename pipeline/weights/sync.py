"""A models directory checked against the lockfile, and filled from its sources.

Layout under the directory (``DEST``), one volume so every rename is atomic::

    {folder}/{name}                  the files ComfyUI (and Demucs) load
    {folder}/{name}.part             a download in progress; the next sync resumes it
    .models-sync/lock                held by one sync at a time (single flight)
    .models-sync/verified.json       size, mtime and sha256 of each file already hashed
    .models-sync/quarantine/...      files that failed their hash, kept for a post-mortem

``verify`` only reads. ``sync`` takes the lock (a second sync waits, then finds the files
there), quarantines a file that fails its hash, downloads what is missing from the entry's
URLs in order, and moves a part into place only once its size and sha256 match the pin.
An unpinned entry (no sha256 yet) is never called good: verify reports it, and sync fetches
it only when asked to (``allow_unpinned``), reporting the size and hash it measured.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from pipeline.domain.errors import SourceError
from pipeline.logging import get_logger
from pipeline.weights.fetch import Sources, fetch_part, hash_file
from pipeline.weights.lock import LockedFile

log = get_logger()

STATE_DIR = ".models-sync"
TRIES_PER_URL = 4
"""Transfers of one URL (each resuming the last) before the next URL is tried."""


class Status(StrEnum):
    OK = "ok"
    """Present and matches its pin."""
    DOWNLOADED = "downloaded"
    """Fetched by this sync; matches its pin (or was measured, when unpinned and allowed)."""
    MISSING = "missing"
    CORRUPT = "corrupt"
    """Present with the wrong size or hash (verify), or quarantined and not re-fetched."""
    UNPINNED = "unpinned"
    """The lock has no size/sha256 for it: present but unchecked, or not downloaded."""
    FAILED = "failed"
    """Every source failed or served the wrong bytes."""


GOOD = frozenset({Status.OK, Status.DOWNLOADED})
EXIT_OK, EXIT_BAD, EXIT_UNPINNED = 0, 1, 3
"""Exit codes: all good; something missing, corrupt or failed; only unpinned files unchecked.
(2 is a usage or lockfile error.)"""


@dataclass
class FileReport:
    path: str
    """``folder/name``."""
    status: Status
    size: int | None = None
    sha256: str | None = None
    """What the file on disk measured, when it was hashed."""
    source: str | None = None
    """The URL it was downloaded from."""
    quarantined: str | None = None
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Status) else v for k, v in asdict(self).items()}


def exit_code(reports: list[FileReport]) -> int:
    statuses = {r.status for r in reports}
    if statuses <= GOOD:
        return EXIT_OK
    if statuses <= GOOD | {Status.UNPINNED}:
        return EXIT_UNPINNED
    return EXIT_BAD


class Listener:
    """What a sync tells its caller; this one tells nobody (a progress bar overrides it)."""

    def start(self, entry: LockedFile, total: int | None, verb: str = "fetching") -> None:
        """Reading ``entry`` begins: ``fetching`` it or ``hashing`` it (``total``: bytes, if
        known)."""

    def advance(self, n: int) -> None:
        """``n`` more bytes of the current file are on disk (negative: it starts over)."""

    def finish(self, report: FileReport) -> None:
        """One entry is done."""

    def waiting(self, lock_path: Path) -> None:
        """Another sync holds the directory; this one waits for it."""


class ModelsDir:
    """One models directory (``DEST``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = root / STATE_DIR
        self._stamps_path = self.state / "verified.json"

    def free_bytes(self) -> int:
        """Space left on the directory's filesystem."""
        return shutil.disk_usage(self.root).free

    def target(self, entry: LockedFile) -> Path:
        return self.root / entry.folder / entry.name

    def part(self, entry: LockedFile) -> Path:
        return self.root / entry.folder / f"{entry.name}.part"

    # Hash stamps: a file already hashed is trusted while its size and mtime stay the same.
    def _stamps(self) -> dict[str, dict[str, Any]]:
        try:
            loaded: dict[str, dict[str, Any]] = json.loads(self._stamps_path.read_text())
        except (OSError, ValueError):
            return {}
        return loaded

    def _stamp(self, entry: LockedFile, sha256: str) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        info = self.target(entry).stat()
        stamps = self._stamps()
        stamps[entry.path] = {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": sha256}
        temporary = self._stamps_path.with_name(f"verified.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(stamps, indent=1, sort_keys=True))
        temporary.replace(self._stamps_path)

    def _measure(self, entry: LockedFile, rehash: bool, listener: Listener) -> tuple[str, int]:
        target = self.target(entry)
        info = target.stat()
        stamp = self._stamps().get(entry.path)
        if (
            not rehash
            and stamp is not None
            and stamp["size"] == info.st_size
            and stamp["mtime_ns"] == info.st_mtime_ns
        ):
            return str(stamp["sha256"]), info.st_size
        listener.start(entry, info.st_size, "hashing")
        sha256, size = hash_file(target, listener.advance)
        self._stamp(entry, sha256)
        return sha256, size

    def check(
        self, entry: LockedFile, rehash: bool = False, listener: Listener | None = None
    ) -> FileReport:
        """The file on disk against its pin, hashing it unless a stamp vouches for it."""
        target = self.target(entry)
        if not target.is_file():
            return FileReport(entry.path, Status.MISSING)
        size = target.stat().st_size
        if entry.size is not None and size != entry.size:
            return FileReport(
                entry.path, Status.CORRUPT, size, detail=f"{size} bytes, the lock says {entry.size}"
            )
        sha256, size = self._measure(entry, rehash, listener or Listener())
        if entry.sha256 is None:
            return FileReport(
                entry.path, Status.UNPINNED, size, sha256, detail="no sha256 to check"
            )
        if sha256 != entry.sha256:
            return FileReport(
                entry.path, Status.CORRUPT, size, sha256, detail=f"sha256 is not {entry.sha256}"
            )
        return FileReport(entry.path, Status.OK, size, sha256)

    def verify(
        self, entries: list[LockedFile], rehash: bool = False, listener: Listener | None = None
    ) -> list[FileReport]:
        listener = listener or Listener()
        reports = []
        for entry in entries:
            reports.append(self.check(entry, rehash, listener))
            listener.finish(reports[-1])
        return reports

    def quarantine(self, path: Path, entry: LockedFile) -> Path:
        """Move a file that failed its check out of ComfyUI's sight; returns where it went."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        destination = self.state / "quarantine" / entry.folder / f"{entry.name}.{stamp}"
        destination.parent.mkdir(parents=True, exist_ok=True)
        path.replace(destination)
        log.warning("models.quarantined", file=entry.path, to=str(destination))
        return destination

    def sync(
        self,
        entries: list[LockedFile],
        sources: Sources,
        *,
        allow_unpinned: bool = False,
        listener: Listener | None = None,
        retry_delay_s: float = 2.0,
    ) -> list[FileReport]:
        """Bring every entry to a good state; one report per entry, in order.

        Waits for any other sync of this directory to end first (single flight).
        """
        listener = listener or Listener()
        self.state.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.state / "lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            listener.waiting(self.state / "lock")
            lock.acquire()
        try:
            reports = []
            for entry in entries:
                report = self._sync_one(entry, sources, allow_unpinned, listener, retry_delay_s)
                listener.finish(report)
                reports.append(report)
            return reports
        finally:
            lock.release()

    def _sync_one(
        self,
        entry: LockedFile,
        sources: Sources,
        allow_unpinned: bool,
        listener: Listener,
        retry_delay_s: float,
    ) -> FileReport:
        found = self.check(entry, listener=listener)
        if found.status in (Status.OK, Status.UNPINNED):
            return found
        quarantined = None
        if found.status is Status.CORRUPT:
            quarantined = str(self.quarantine(self.target(entry), entry))
        if not entry.pinned and not allow_unpinned:
            return FileReport(
                entry.path,
                Status.UNPINNED,
                quarantined=quarantined,
                detail="not downloaded: the lock has no sha256 for it "
                "(pin it with `pipeline models lock --from MIRROR`, or pass --allow-unpinned)",
            )
        report = self._download(entry, sources, listener, retry_delay_s)
        report.quarantined = report.quarantined or quarantined
        return report

    def _download(
        self, entry: LockedFile, sources: Sources, listener: Listener, retry_delay_s: float
    ) -> FileReport:
        part = self.part(entry)
        part.parent.mkdir(parents=True, exist_ok=True)
        if entry.size is not None:
            needed = entry.size - (part.stat().st_size if part.is_file() else 0)
            if needed > (free := self.free_bytes()):
                return FileReport(
                    entry.path,
                    Status.FAILED,
                    detail=f"needs {needed} more bytes; {self.root} has {free} free",
                )
        problems: list[str] = []
        quarantined = None
        for url in entry.urls:
            for attempt in range(1, TRIES_PER_URL + 1):
                listener.start(entry, entry.size)
                resumed = part.is_file() and part.stat().st_size > 0
                try:
                    sha256, size = fetch_part(
                        sources.for_url(url), url, part, entry.size, listener.advance
                    )
                except SourceError as exc:
                    log.warning(
                        "models.fetch_failed", file=entry.path, attempt=attempt, error=str(exc)
                    )
                    problems.append(exc.message)
                    if exc.permanent:
                        break
                    if attempt < TRIES_PER_URL:
                        time.sleep(retry_delay_s * 2 ** (attempt - 1))
                    continue
                if entry.sha256 is not None and sha256 != entry.sha256:
                    quarantined = str(self.quarantine(part, entry))
                    problems.append(f"{url}: the file's sha256 is {sha256}")
                    if resumed:
                        continue  # the old part may be what was wrong: once more, from zero
                    break
                part.replace(self.target(entry))
                self._stamp(entry, sha256)
                if entry.sha256 is None:
                    log.warning(
                        "models.unpinned_download", file=entry.path, size=size, sha256=sha256
                    )
                return FileReport(
                    entry.path,
                    Status.DOWNLOADED,
                    size,
                    sha256,
                    source=url,
                    quarantined=quarantined,
                    detail=""
                    if entry.pinned
                    else "unpinned: size and sha256 measured, not checked",
                )
        return FileReport(
            entry.path, Status.FAILED, quarantined=quarantined, detail="; ".join(problems[-3:])
        )
